import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { Webhooks } from "@octokit/webhooks";
import type { JWTVerifyGetKey } from "jose";
import type { Receiver } from "../api/receiver.js";
import { gcrRefusal, type GcrIdentity } from "./gcr.js";
import { decodesAsGo, type RegistryPayload } from "./registry-payloads.js";

/** Flux's webhook path: `/hook/` + sha256(token + name + namespace), hex. */
export function webhookPath(token: string, name: string, namespace: string): string {
  return `/hook/${createHash("sha256")
    .update(token + name + namespace)
    .digest("hex")}`;
}

export type Verdict =
  { accept: true; event: string } | { accept: false; status: number; reason: string } | { pong: true };

/**
 * Checks a delivery the way notification-controller does for the receiver's type. Every refusal is
 * answered 400, as Flux's receiver handler answers whatever its validate returns (a bad signature or
 * token, an event the Receiver does not list, a body not of the type). The payload only
 * triggers a fetch; nothing in it decides what is deployed, so it is never parsed beyond the event.
 */
export async function verifyDelivery(
  type: Receiver["spec"]["type"],
  token: string,
  headers: Record<string, string | undefined>,
  body: Buffer,
  events: string[] = [],
  /** gcr: the Secret's email and audience; `googleKeys` only for tests (Google's own keys otherwise). */
  gcr: { identity?: GcrIdentity; googleKeys?: JWTVerifyGetKey } = {},
): Promise<Verdict> {
  // An empty key would let anyone forge an HMAC or match a missing header: never verify with one.
  if (!token) return { accept: false, status: 400, reason: "the receiver has no token" };
  const allowed = (event: string) => events.length === 0 || events.some((e) => e.toLowerCase() === event.toLowerCase());
  switch (type) {
    case "generic":
      return { accept: true, event: "generic" };
    case "generic-hmac":
      return signatureMatches(headers["x-signature"], token, body)
        ? { accept: true, event: "generic" }
        : { accept: false, status: 400, reason: "invalid or missing X-Signature" };
    case "github": {
      const event = headers["x-github-event"] ?? "";
      // GitHub's own library checks X-Hub-Signature-256 (HMAC-SHA256 of the raw body, constant time).
      const signature = headers["x-hub-signature-256"] ?? "";
      const verified =
        signature !== "" && (await new Webhooks({ secret: token }).verify(body.toString("utf8"), signature));
      if (!verified) return { accept: false, status: 400, reason: "invalid or missing X-Hub-Signature-256" };
      if (event === "ping") return { pong: true };
      return allowed(event)
        ? { accept: true, event }
        : { accept: false, status: 400, reason: `event '${event}' is not in the receiver's events` };
    }
    case "gitlab": {
      const event = headers["x-gitlab-event"] ?? "";
      if (!constantTimeEqual(headers["x-gitlab-token"] ?? "", token))
        return { accept: false, status: 400, reason: "invalid X-Gitlab-Token" };
      return allowed(event)
        ? { accept: true, event }
        : { accept: false, status: 400, reason: `event '${event}' is not in the receiver's events` };
    }
    case "bitbucket": {
      // Bitbucket Server signs with X-Hub-Signature (sha256=…) and names the event in X-Event-Key.
      const event = headers["x-event-key"] ?? "";
      if (!signatureMatches(headers["x-hub-signature"], token, body))
        return { accept: false, status: 400, reason: "invalid or missing X-Hub-Signature" };
      if (event === "diagnostics:ping") return { pong: true };
      return allowed(event)
        ? { accept: true, event }
        : { accept: false, status: 400, reason: `event '${event}' is not in the receiver's events` };
    }
    // Registry webhooks, as notification-controller v1.9 checks them. Quay, Docker Hub and ACR sign nothing: the secret path is their only credential.
    case "harbor":
      return constantTimeEqual(headers["authorization"] ?? "", token)
        ? { accept: true, event: "harbor" }
        : { accept: false, status: 400, reason: "the Authorization header does not match the receiver's token" };
    case "nexus": {
      const signature = headers["x-nexus-webhook-signature"] ?? "";
      if (signature === "") return { accept: false, status: 400, reason: "missing X-Nexus-Webhook-Signature" };
      // Nexus signs with HMAC-SHA1 of the raw body, in lowercase hex with no prefix.
      if (!constantTimeEqual(signature, createHmac("sha1", token).update(body).digest("hex")))
        return { accept: false, status: 400, reason: "invalid X-Nexus-Webhook-Signature" };
      return payloadVerdict("nexus", body);
    }
    case "gcr": {
      const refused = await gcrRefusal(gcr.identity, headers["authorization"] ?? "", body, gcr.googleKeys);
      return refused ? { accept: false, status: 400, reason: refused } : { accept: true, event: "gcr" };
    }
    case "quay":
    case "dockerhub":
    case "acr":
      return payloadVerdict(type, body);
    default:
      return { accept: false, status: 400, reason: `receiver type '${type}' is not supported by Sluice yet` };
  }
}

function payloadVerdict(type: RegistryPayload, body: Buffer): Verdict {
  return decodesAsGo(type, body)
    ? { accept: true, event: type }
    : { accept: false, status: 400, reason: `the body is not a ${type} webhook payload` };
}

/**
 * The id a Git host keeps across retries of one delivery, for de-duplication: GitHub's
 * X-GitHub-Delivery, GitLab's Idempotency-Key. Other types send none Sluice can rely on.
 */
export function deliveryIdOf(
  type: Receiver["spec"]["type"],
  headers: Record<string, string | undefined>,
): string | undefined {
  const id =
    type === "github" ? headers["x-github-delivery"] : type === "gitlab" ? headers["idempotency-key"] : undefined;
  return id || undefined;
}

/** `sha256=<hex>` HMAC of the raw body, compared in constant time. */
function signatureMatches(header: string | undefined, token: string, body: Buffer): boolean {
  const expected = `sha256=${createHmac("sha256", token).update(body).digest("hex")}`;
  return constantTimeEqual(header ?? "", expected);
}

function constantTimeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
