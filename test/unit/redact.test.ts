import { describe, expect, it } from "vitest";
import type { KubeObject } from "../../src/apply/object.js";
import { redactPair } from "../../src/apply/redact.js";

const secret = (data: Record<string, string>, annotations?: Record<string, string>): KubeObject => ({
  apiVersion: "v1",
  kind: "Secret",
  metadata: { name: "db", namespace: "apps", ...(annotations && { annotations }) },
  data,
});
const b64 = (text: string) => Buffer.from(text).toString("base64");

describe("redactPair (what `sluice diff` may print of an object)", () => {
  it("masks every Secret value and marks the keys whose value changes", () => {
    const { live, desired } = redactPair(
      secret({ user: b64("admin"), password: b64("old-pass") }),
      secret({ user: b64("admin"), password: b64("new-pass"), added: b64("x") }),
    );
    expect(live?.data).toEqual({ user: "*****", password: "*****" });
    expect(desired?.data).toEqual({ user: "*****", password: "***** (changed)", added: "*****" });
  });

  it("masks kubectl's last-applied-configuration, which repeats the values in plain JSON", () => {
    const lastApplied = JSON.stringify({ apiVersion: "v1", kind: "Secret", stringData: { password: "hunter2" } });
    const { live } = redactPair(
      secret(
        { password: b64("hunter2") },
        { "kubectl.kubernetes.io/last-applied-configuration": lastApplied, team: "db" },
      ),
      undefined,
    );
    expect(JSON.stringify(live)).not.toContain("hunter2");
    expect(JSON.stringify(live)).not.toContain(b64("hunter2"));
    expect(live?.metadata.annotations).toEqual({
      "kubectl.kubernetes.io/last-applied-configuration": "*****",
      team: "db",
    });
  });

  it("compares stringData with data, so re-stating a value in plain text is not a change", () => {
    const desired: KubeObject = { ...secret({}), data: undefined, stringData: { password: "same" } };
    expect(redactPair(secret({ password: b64("same") }), desired).desired?.stringData).toEqual({ password: "*****" });
  });

  it("leaves other kinds alone and never mutates its input", () => {
    const cm: KubeObject = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "c" }, data: { a: "1" } };
    expect(redactPair(cm, cm)).toEqual({ live: cm, desired: cm });
    const input = secret({ k: b64("v") });
    redactPair(input, input);
    expect(input.data).toEqual({ k: b64("v") });
  });
});
