import { describe, expect, it } from "vitest";
import type { KubeObject } from "../../src/apply/object.js";
import { SubstitutionError, substituteAll, substituteText } from "../../src/render/substitute.js";

const vars = { NAME: "podinfo", EMPTY: "", VERSION: "v1.2.3", PATH_LIKE: "a/b/c.tar.gz", REPLICAS: "3" };
const configMap = (data: Record<string, string>, meta: Partial<KubeObject["metadata"]> = {}): KubeObject => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name: "cm", namespace: "apps", ...meta },
  data,
});

describe("post-build substitution (Flux's envsubst syntax)", () => {
  it.each([
    ["${NAME}", "podinfo"],
    ["${MISSING:=fallback}", "fallback"],
    ["${EMPTY:=fallback}", "fallback"],
    ["${EMPTY=fallback}", ""],
    ["${MISSING:-x}", "x"],
    ["${NAME:=ignored}", "podinfo"],
    ["${MISSING:=${NAME}-x}", "podinfo-x"],
    ["${VERSION:1}", "1.2.3"],
    ["${VERSION:1:3}", "1.2"],
    ["${VERSION/./-}", "v1-2.3"],
    ["${VERSION//./-}", "v1-2-3"],
    ["${PATH_LIKE#*/}", "b/c.tar.gz"],
    ["${PATH_LIKE##*/}", "c.tar.gz"],
    ["${PATH_LIKE%.*}", "a/b/c.tar"],
    ["${PATH_LIKE%%.*}", "a/b/c"],
    ["${NAME^}", "Podinfo"],
    ["${NAME^^}", "PODINFO"],
    ["${#NAME}", "7"],
    ["$${NAME}", "${NAME}"],
    ["$NAME stays", "$NAME stays"],
    ["cost: $5", "cost: $5"],
  ])("%s → %s", (input, expected) => {
    expect(substituteText(input, vars, true)).toBe(expected);
  });

  it("types values through YAML, as Flux substitutes text: replicas: ${REPLICAS} becomes the number 3", () => {
    const deployment: KubeObject = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "web", namespace: "apps" },
      spec: { replicas: "${REPLICAS}" },
    };
    expect(substituteAll([deployment], vars)[0]).toMatchObject({ spec: { replicas: 3 } });
  });

  it("is strict by default: names every object and undefined variable at once", () => {
    const objects = [
      configMap({ a: "${ONE}" }, { name: "first" }),
      configMap({ b: "${NAME}" }, { name: "fine" }),
      configMap({ c: "${TWO}" }, { name: "second" }),
    ];
    const error = (() => {
      try {
        substituteAll(objects, vars);
      } catch (e) {
        return e as SubstitutionError;
      }
    })();
    expect(error).toBeInstanceOf(SubstitutionError);
    expect(error?.problems).toEqual([
      'ConfigMap/apps/first: variable not set (strict mode): "ONE"',
      'ConfigMap/apps/second: variable not set (strict mode): "TWO"',
    ]);
  });

  it("leaves undefined variables empty when not strict", () => {
    expect(substituteAll([configMap({ a: "x${ONE}y" })], vars, { strict: false })[0]).toMatchObject({
      data: { a: "xy" },
    });
  });

  it.each([
    ["label", { labels: { "kustomize.toolkit.fluxcd.io/substitute": "disabled" } }],
    ["annotation", { annotations: { "kustomize.toolkit.fluxcd.io/substitute": "disabled" } }],
  ])("skips objects that opt out by %s", (_how, meta) => {
    expect(substituteAll([configMap({ a: "${ONE}" }, meta)], vars)[0]).toMatchObject({ data: { a: "${ONE}" } });
  });

  it("rejects a variable name Flux would reject, naming it", () => {
    expect(() => substituteAll([configMap({})], { "bad-name": "x" })).toThrow("variable name 'bad-name' is invalid");
  });

  it("does not substitute inside a value again (no recursion into values)", () => {
    expect(substituteText("${A}", { A: "${B}", B: "no" }, true)).toBe("${B}");
  });
});
