import { describe, expect, it } from "vitest";
import { keyIdFor, parseBundleKey } from "../../src/bundle/bundle.js";
import { agentConfigFromEnv } from "../../src/agent/config.js";

const env = {
  SLUICE_CLUSTER_NAME: "edge-1",
  SLUICE_BUCKET: "state",
  AWS_REGION: "eu-west-1",
  SLUICE_BUNDLE_KEY: "kms:alias/sluice",
};

describe("agent settings from its environment (pure)", () => {
  it("reads the ConfigMap's variables with their defaults", () => {
    expect(agentConfigFromEnv(env)).toEqual({
      cluster: "edge-1",
      bucket: "state",
      region: "eu-west-1",
      bundleKey: "kms:alias/sluice",
      publicKey: undefined,
      pollMs: 10_000,
      healthPort: 8080,
      concurrency: 4,
      endpoint: undefined,
    });
    expect(
      agentConfigFromEnv({ ...env, SLUICE_POLL_INTERVAL: "30s", SLUICE_CONCURRENCY: "8", SLUICE_HEALTH_PORT: "0" }),
    ).toMatchObject({ pollMs: 30_000, concurrency: 8, healthPort: 0 });
  });

  it("names the variable that is missing or wrong", () => {
    expect(() => agentConfigFromEnv({ ...env, SLUICE_BUCKET: undefined })).toThrow(
      "environment variable SLUICE_BUCKET is not set",
    );
    expect(() => agentConfigFromEnv({ ...env, SLUICE_BUNDLE_KEY: "rsa:x" })).toThrow(
      "SLUICE_BUNDLE_KEY 'rsa:x': expected kms:<key id> or hmac:<secret id>",
    );
    expect(() => agentConfigFromEnv({ ...env, SLUICE_CONCURRENCY: "0" })).toThrow(
      "SLUICE_CONCURRENCY '0': expected a whole number >= 1",
    );
    expect(() => agentConfigFromEnv({ ...env, SLUICE_POLL_INTERVAL: "soon" })).toThrow(/soon/);
  });

  it("refuses an HMAC key shared by every cluster, saying why, and takes one with {cluster}", () => {
    expect(() => agentConfigFromEnv({ ...env, SLUICE_BUNDLE_KEY: "hmac:sluice/bundle-key" })).toThrow(
      "SLUICE_BUNDLE_KEY 'hmac:sluice/bundle-key': an HMAC secret id must contain {cluster} (e.g. hmac:sluice/bundle-keys/{cluster}): an agent can sign with the key it verifies with, so each cluster needs its own key; kms:<key id> avoids even that",
    );
    expect(agentConfigFromEnv({ ...env, SLUICE_BUNDLE_KEY: "hmac:sluice/bundle-keys/{cluster}" }).bundleKey).toBe(
      "hmac:sluice/bundle-keys/{cluster}",
    );
  });

  it("expands {cluster} to the one cluster a key id serves", () => {
    expect(keyIdFor(parseBundleKey("hmac:sluice/bundle-keys/{cluster}", "x"), "edge-1")).toBe(
      "sluice/bundle-keys/edge-1",
    );
    expect(keyIdFor(parseBundleKey("kms:alias/sluice", "x"), "edge-1")).toBe("alias/sluice");
    expect(keyIdFor(parseBundleKey("kms:alias/sluice-{cluster}", "x"), "edge-1")).toBe("alias/sluice-edge-1");
  });
});
