import { describe, expect, it } from "vitest";
import { runSettings, type RunFlags } from "../../src/cli/run.js";
import { configFromEnv } from "../../src/runtime/lambda/config.js";

const env = { AWS_REGION: "eu-west-1", SLUICE_BUCKET: "b", SLUICE_QUEUE_URL: "q", SLUICE_DELAY_QUEUE_URL: "d" };
const flags: RunFlags = {
  port: "9292",
  concurrency: "4",
  remoteBases: true,
  privateNetworks: true,
  crossNamespaceRefs: true,
  logLevel: "info",
};

describe("tenancy lockdown settings from sluice run's flags and the Lambda environment", () => {
  it("the Lambda environment turns on noCrossNamespaceRefs, defaultServiceAccount and insecureKubeConfigTLS; unset they stay off", () => {
    // Act
    const locked = configFromEnv({
      ...env,
      SLUICE_NO_CROSS_NAMESPACE_REFS: "true",
      SLUICE_DEFAULT_SERVICE_ACCOUNT: "reconciler",
      SLUICE_INSECURE_KUBECONFIG_TLS: "true",
    }).settings;
    const open = configFromEnv(env).settings;
    // Assess
    expect(locked).toMatchObject({
      noCrossNamespaceRefs: true,
      defaultServiceAccount: "reconciler",
      insecureKubeConfigTLS: true,
    });
    expect(open).toMatchObject({
      noCrossNamespaceRefs: false,
      defaultServiceAccount: undefined,
      insecureKubeConfigTLS: false,
    });
  });

  it("a malformed value is refused naming the variable, never read as off", () => {
    expect(() => configFromEnv({ ...env, SLUICE_NO_CROSS_NAMESPACE_REFS: "yes" })).toThrow(
      "SLUICE_NO_CROSS_NAMESPACE_REFS must be 'true' or 'false'",
    );
    expect(() => configFromEnv({ ...env, SLUICE_DEFAULT_SERVICE_ACCOUNT: "Bad Name" })).toThrow(
      "environment variable SLUICE_DEFAULT_SERVICE_ACCOUNT: 'Bad Name' is not a service account name",
    );
  });

  it("sluice run's --no-cross-namespace-refs, --default-service-account and --insecure-kubeconfig-tls map to the settings", () => {
    // Act
    const locked = runSettings({
      ...flags,
      crossNamespaceRefs: false,
      defaultServiceAccount: "reconciler",
      insecureKubeconfigTls: true,
    });
    // Assess
    expect(locked).toMatchObject({
      noCrossNamespaceRefs: true,
      defaultServiceAccount: "reconciler",
      insecureKubeConfigTLS: true,
    });
    expect(runSettings(flags)).toMatchObject({
      noCrossNamespaceRefs: false,
      defaultServiceAccount: undefined,
      insecureKubeConfigTLS: false,
    });
    expect(() => runSettings({ ...flags, defaultServiceAccount: "../x" })).toThrow(
      "--default-service-account: '../x' is not a service account name",
    );
  });
});
