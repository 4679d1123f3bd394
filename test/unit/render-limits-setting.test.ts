import { describe, expect, it } from "vitest";
import { runSettings, type RunFlags } from "../../src/cli/run.js";
import { defaultRenderLimits, parseRenderLimits } from "../../src/render/limits.js";
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

describe("render limits as an operator setting", () => {
  it("keeps the defaults for what is not set", () => {
    expect(parseRenderLimits(undefined, "x")).toEqual(defaultRenderLimits);
    expect(parseRenderLimits(" timeoutMs = 120000 , maxDocuments=5000,", "x")).toEqual({
      ...defaultRenderLimits,
      timeoutMs: 120_000,
      maxDocuments: 5_000,
    });
  });

  it.each([
    [
      "maxFileSize=1",
      "x: unknown limit 'maxFileSize'; known: timeoutMs, maxFileBytes, maxDocuments, maxOutputBytes, maxAliases, maxMemoryBytes",
    ],
    ["timeoutMs=0", "x: timeoutMs must be a positive integer, not '0'"],
    ["timeoutMs=-5", "x: timeoutMs must be a positive integer, not '-5'"],
    ["timeoutMs=1e9", "x: timeoutMs must be a positive integer, not '1e9'"],
    ["maxAliases", "x: maxAliases must be a positive integer, not ''"],
    ["maxOutputBytes=99999999999999999999", "x: maxOutputBytes must be a positive integer"],
    ["__proto__=1", "x: unknown limit '__proto__'"],
  ])("refuses %s naming the setting", (text, message) => {
    expect(() => parseRenderLimits(text, "x")).toThrow(message);
  });

  it("reaches the settings from sluice run's --render-limits and the Lambda's SLUICE_RENDER_LIMITS", () => {
    expect(runSettings({ ...flags, renderLimits: "maxFileBytes=1024" }).renderLimits).toEqual({
      ...defaultRenderLimits,
      maxFileBytes: 1024,
    });
    expect(configFromEnv({ ...env, SLUICE_RENDER_LIMITS: "maxAliases=10" }).settings?.renderLimits).toEqual({
      ...defaultRenderLimits,
      maxAliases: 10,
    });
    const worker = { ...env, AWS_LAMBDA_FUNCTION_MEMORY_SIZE: "1024" };
    expect(configFromEnv(worker).settings?.renderLimits?.maxMemoryBytes).toBe(512 * 2 ** 20);
    const chosen = { ...worker, SLUICE_RENDER_LIMITS: "maxMemoryBytes=900000000" };
    expect(configFromEnv(chosen).settings?.renderLimits?.maxMemoryBytes).toBe(900_000_000);
    expect(() => configFromEnv({ ...env, SLUICE_RENDER_LIMITS: "nope=1" })).toThrow(
      "environment variable SLUICE_RENDER_LIMITS: unknown limit 'nope'",
    );
  });
});
