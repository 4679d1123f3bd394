import { describe, expect, it } from "vitest";
import type { FluxEvent } from "../../src/notify/events.js";
import { commitOf, nameAndDescription } from "../../src/notify/providers/commit-status.js";

// The words and commit a commit status is made of, as notification-controller v1.9.3's util.go makes
// them (formatNameAndDescription with fatih/camelcase's split; parseRevision over fluxcd/pkg/git).

const event = (reason: string, metadata: Record<string, string> = {}): FluxEvent => ({
  involvedObject: { apiVersion: "kustomize.toolkit.fluxcd.io/v1", kind: "Kustomization", namespace: "a", name: "Apps" },
  severity: "info",
  reason,
  message: "",
  metadata,
  reportingController: "kustomize-controller",
  timestamp: "2026-12-01T10:00:00Z",
});
const SHA = "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567";

describe("commit status description and commit", () => {
  it.each([
    ["ReconciliationSucceeded", "reconciliation succeeded"],
    ["HealthCheckFailed", "health check failed"],
    ["DependencyNotReady", "dependency not ready"],
    ["ArtifactFailed", "artifact failed"],
    ["PDFLoader", "pdf loader"],
    ["GitOperationFailed2", "git operation failed 2"],
    ["Progressing", "progressing"],
  ])("the reason %s reads %s; the name is kind/name lower-cased", (reason, description) => {
    expect(nameAndDescription(event(reason))).toEqual({ name: "kustomization/apps", description });
  });

  it.each([
    [`main@sha1:${SHA}`, SHA],
    [`refs/heads/main@sha1:${SHA}`, SHA],
    [`main/${SHA}`, SHA],
    [SHA, SHA],
  ])("the revision %s names commit %s", (revision, sha) => {
    expect(commitOf(event("x", { revision }))).toBe(sha);
  });

  it("the commit key wins over originRevision, which wins over revision; no revision, or no SHA-1, is an error", () => {
    const other = "f".repeat(40);
    expect(commitOf(event("x", { commit: SHA, originRevision: `main@sha1:${other}`, revision: other }))).toBe(SHA);
    expect(commitOf(event("x", { originRevision: `main@sha1:${SHA}`, revision: `v1@sha256:${"a".repeat(64)}` }))).toBe(
      SHA,
    );
    expect(() => commitOf(event("x"))).toThrow("missing revision metadata");
    expect(() => commitOf(event("x", { revision: "main@sha1:%2e%2e%2f%2e%2e%2fxxxxxxxxxxxxxxxxxxxxxxxx" }))).toThrow(
      "failed to extract commit hash",
    );
  });
});
