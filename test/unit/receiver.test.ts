import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { verifyDelivery, webhookPath } from "../../src/notify/receiver.js";

const token = "s3cret-token";
const body = Buffer.from('{"ref":"refs/heads/main"}');
const sign = (prefix = "sha256=") => `${prefix}${createHmac("sha256", token).update(body).digest("hex")}`;

describe("Receiver delivery verification (Flux's receiver types)", () => {
  it("derives Flux's webhook path from token, name and namespace", () => {
    expect(webhookPath("token", "github", "flux-system")).toMatch(/^\/hook\/[0-9a-f]{64}$/);
    expect(webhookPath("token", "github", "flux-system")).not.toBe(webhookPath("token", "github", "other"));
  });

  it.each([
    ["generic accepts any delivery", "generic", {}, { accept: true, event: "generic" }],
    ["generic-hmac accepts a valid X-Signature", "generic-hmac", { "x-signature": sign() }, { accept: true, event: "generic" }],
    ["generic-hmac refuses a wrong one", "generic-hmac", { "x-signature": "sha256=00" }, { accept: false, status: 401, reason: "invalid or missing X-Signature" }],
    ["github accepts a signed push", "github", { "x-hub-signature-256": sign(), "x-github-event": "push" }, { accept: true, event: "push" }],
    ["github answers ping", "github", { "x-hub-signature-256": sign(), "x-github-event": "ping" }, { pong: true }],
    ["github refuses an unsigned push", "github", { "x-github-event": "push" }, { accept: false, status: 401, reason: "invalid or missing X-Hub-Signature-256" }],
    ["github ignores events not listed", "github", { "x-hub-signature-256": sign(), "x-github-event": "issues" }, { accept: false, status: 200, reason: "event 'issues' is not in the receiver's events" }],
    ["gitlab accepts its token", "gitlab", { "x-gitlab-token": token, "x-gitlab-event": "Push Hook" }, { accept: false, status: 200, reason: "event 'Push Hook' is not in the receiver's events" }],
    ["gitlab refuses a wrong token", "gitlab", { "x-gitlab-token": "nope", "x-gitlab-event": "push" }, { accept: false, status: 401, reason: "invalid X-Gitlab-Token" }],
    ["bitbucket accepts a signed push", "bitbucket", { "x-hub-signature": sign(), "x-event-key": "push" }, { accept: true, event: "push" }],
    ["bitbucket refuses a bad signature", "bitbucket", { "x-hub-signature": "sha256=11", "x-event-key": "push" }, { accept: false, status: 401, reason: "invalid or missing X-Hub-Signature" }],
    ["types Sluice lacks are named", "harbor", {}, { accept: false, status: 400, reason: "receiver type 'harbor' is not supported by Sluice yet" }],
  ] as const)("%s", async (_case, type, headers, verdict) => {
    await expect(verifyDelivery(type, token, headers, body, ["push"])).resolves.toEqual(verdict);
  });
});
