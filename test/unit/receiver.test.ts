import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { Receiver } from "../../src/api/receiver.js";
import { refusedResources } from "../../src/controllers/notification/receiver.js";
import { MemoryDeliveryLog } from "../../src/notify/delivery-log.js";
import { deliveryIdOf, verifyDelivery, webhookPath } from "../../src/notify/receiver.js";
import { digestOfPath } from "../../src/notify/receiver-index.js";

const token = "s3cret-token";
const body = Buffer.from('{"ref":"refs/heads/main"}');
const sign = (key = token, prefix = "sha256=") => `${prefix}${createHmac("sha256", key).update(body).digest("hex")}`;

describe("Receiver delivery verification (Flux's receiver types)", () => {
  it("derives Flux's webhook path from token, name and namespace", () => {
    expect(webhookPath("token", "github", "flux-system")).toMatch(/^\/hook\/[0-9a-f]{64}$/);
    expect(webhookPath("token", "github", "flux-system")).not.toBe(webhookPath("token", "github", "other"));
  });

  it.each([
    ["generic accepts any delivery", "generic", {}, { accept: true, event: "generic" }],
    [
      "generic-hmac accepts a valid X-Signature",
      "generic-hmac",
      { "x-signature": sign() },
      { accept: true, event: "generic" },
    ],
    [
      "generic-hmac refuses a wrong one",
      "generic-hmac",
      { "x-signature": "sha256=00" },
      { accept: false, status: 400, reason: "invalid or missing X-Signature" },
    ],
    [
      "github accepts a signed push",
      "github",
      { "x-hub-signature-256": sign(), "x-github-event": "push" },
      { accept: true, event: "push" },
    ],
    ["github answers ping", "github", { "x-hub-signature-256": sign(), "x-github-event": "ping" }, { pong: true }],
    [
      "github refuses an unsigned push",
      "github",
      { "x-github-event": "push" },
      { accept: false, status: 400, reason: "invalid or missing X-Hub-Signature-256" },
    ],
    [
      "github refuses events not listed (400, as Flux)",
      "github",
      { "x-hub-signature-256": sign(), "x-github-event": "issues" },
      { accept: false, status: 400, reason: "event 'issues' is not in the receiver's events" },
    ],
    [
      "gitlab accepts its token",
      "gitlab",
      { "x-gitlab-token": token, "x-gitlab-event": "Push Hook" },
      { accept: false, status: 400, reason: "event 'Push Hook' is not in the receiver's events" },
    ],
    [
      "gitlab refuses a wrong token",
      "gitlab",
      { "x-gitlab-token": "nope", "x-gitlab-event": "push" },
      { accept: false, status: 400, reason: "invalid X-Gitlab-Token" },
    ],
    [
      "bitbucket accepts a signed push",
      "bitbucket",
      { "x-hub-signature": sign(), "x-event-key": "push" },
      { accept: true, event: "push" },
    ],
    [
      "bitbucket refuses a bad signature",
      "bitbucket",
      { "x-hub-signature": "sha256=11", "x-event-key": "push" },
      { accept: false, status: 400, reason: "invalid or missing X-Hub-Signature" },
    ],
    [
      "types Sluice lacks are named",
      "cdevents",
      {},
      { accept: false, status: 400, reason: "receiver type 'cdevents' is not supported by Sluice yet" },
    ],
  ] as const)("%s", async (_case, type, headers, verdict) => {
    await expect(verifyDelivery(type, token, headers, body, ["push"])).resolves.toEqual(verdict);
  });

  // An attacker's variations on an empty key: no header, an empty header, an HMAC keyed with "".
  it.each([
    ["generic", {}],
    ["generic-hmac", { "x-signature": sign("") }],
    ["github", { "x-hub-signature-256": sign(""), "x-github-event": "push" }],
    ["gitlab", { "x-gitlab-event": "push" }],
    ["gitlab", { "x-gitlab-token": "", "x-gitlab-event": "push" }],
    ["bitbucket", { "x-hub-signature": sign(""), "x-event-key": "push" }],
    ["harbor", { authorization: "" }],
    ["nexus", { "x-nexus-webhook-signature": createHmac("sha1", "").update(body).digest("hex") }],
    ["dockerhub", {}],
  ] as const)("a %s receiver without a token refuses every delivery (%j)", async (type, headers) => {
    await expect(verifyDelivery(type, "", headers, body)).resolves.toEqual({
      accept: false,
      status: 400,
      reason: "the receiver has no token",
    });
  });

  it("takes the delivery id a host keeps across retries, and none a type does not send", () => {
    expect(deliveryIdOf("github", { "x-github-delivery": "72d3162e" })).toBe("72d3162e");
    expect(deliveryIdOf("gitlab", { "idempotency-key": "908a6d9e" })).toBe("908a6d9e");
    expect(deliveryIdOf("generic", { "x-github-delivery": "72d3162e" })).toBeUndefined();
    expect(deliveryIdOf("github", { "x-github-delivery": "" })).toBeUndefined();
  });
});

describe("registry Receivers (notification-controller v1.9's checks; 400 for every refusal, as Flux answers)", () => {
  const json = (value: unknown) => Buffer.from(JSON.stringify(value));
  const nexusSign = (payload: Buffer, key = token) => createHmac("sha1", key).update(payload).digest("hex");
  const refused = (reason: string) => ({ accept: false, status: 400, reason });

  it("harbor compares the Authorization header with the token, exactly", async () => {
    await expect(verifyDelivery("harbor", token, { authorization: token }, body)).resolves.toEqual({
      accept: true,
      event: "harbor",
    });
    for (const authorization of [undefined, "", `Bearer ${token}`, token.toUpperCase(), `${token} `, token.slice(1)])
      await expect(verifyDelivery("harbor", token, { authorization }, body), String(authorization)).resolves.toEqual(
        refused("the Authorization header does not match the receiver's token"),
      );
  });

  it("nexus needs X-Nexus-Webhook-Signature, the HMAC-SHA1 of the raw body in lowercase hex, and a payload that decodes", async () => {
    const payload = json({ action: "CREATED", repositoryName: "docker-hosted", nodeId: "7C6E", timestamp: "x" });
    await expect(
      verifyDelivery("nexus", token, { "x-nexus-webhook-signature": nexusSign(payload) }, payload),
    ).resolves.toEqual({ accept: true, event: "nexus" });
    const attempts: [Record<string, string>, Buffer, string][] = [
      [{}, payload, "missing X-Nexus-Webhook-Signature"],
      [{ "x-nexus-webhook-signature": nexusSign(payload).toUpperCase() }, payload, "invalid X-Nexus-Webhook-Signature"],
      [{ "x-nexus-webhook-signature": `sha1=${nexusSign(payload)}` }, payload, "invalid X-Nexus-Webhook-Signature"],
      [{ "x-nexus-webhook-signature": nexusSign(payload, "other") }, payload, "invalid X-Nexus-Webhook-Signature"],
      // The signature of another body (the same payload with a byte more) does not carry over.
      [
        { "x-nexus-webhook-signature": nexusSign(payload) },
        Buffer.concat([payload, Buffer.from(" ")]),
        "invalid X-Nexus-Webhook-Signature",
      ],
      // Signed, but json.Unmarshal refuses it: trailing data, or a field of the wrong type.
      ...[Buffer.from('{"action":"CREATED"}{}'), json({ action: 1 }), json(["CREATED"])].map(
        (bad): [Record<string, string>, Buffer, string] => [
          { "x-nexus-webhook-signature": nexusSign(bad) },
          bad,
          "the body is not a nexus webhook payload",
        ],
      ),
    ];
    for (const [headers, sent, reason] of attempts)
      await expect(verifyDelivery("nexus", token, headers, sent), reason).resolves.toEqual(refused(reason));
  });

  // Quay, Docker Hub and ACR sign nothing: Flux takes any body that decodes (json.Decoder: the first value) into its struct.
  it.each([
    ["quay", json({ docker_url: "quay.io/org/app", updated_tags: ["1.0.0"], repository: "org/app" })],
    ["quay", Buffer.from('{"docker_url":"quay.io/org/app"} trailing text Go never reads')],
    ["quay", Buffer.from("null")],
    ["quay", json({ Docker_URL: "quay.io/org/app", updated_tags: null })],
    [
      "dockerhub",
      json({ push_data: { tag: "v1", pusher: "me" }, repository: { repo_url: "https://hub.docker.com/r/org/app" } }),
    ],
    ["dockerhub", json({})],
    ["acr", json({ id: "1", action: "push", target: { repository: "app", tag: "v1", digest: "sha256:00" } })],
  ] as const)("%s accepts %s", async (type, payload) => {
    await expect(verifyDelivery(type, token, {}, payload)).resolves.toEqual({ accept: true, event: type });
  });

  it.each([
    ["quay", Buffer.alloc(0)],
    ["quay", Buffer.from("   ")],
    ["quay", Buffer.from('{"docker_url":"quay.io/org/app"')],
    ["quay", json({ docker_url: 42 })],
    ["quay", json({ updated_tags: "1.0.0" })],
    ["quay", json({ updated_tags: [1] })],
    ["quay", json("a string")],
    ["quay", Buffer.from("[".repeat(100_000))],
    ["dockerhub", json({ push_data: { tag: 1 } })],
    ["dockerhub", json({ push_data: "v1" })],
    ["dockerhub", json({ REPOSITORY: { Repo_Url: [] } })],
    ["dockerhub", Buffer.from("nul")],
    ["acr", json({ target: ["app"] })],
    ["acr", json({ action: true })],
    ["acr", json(7)],
    ["acr", Buffer.from(String.raw`{"action":"push","target":{"tag":"v1\"}}`)], // the quote is escaped: unterminated
  ] as const)("%s refuses %s", async (type, payload) => {
    await expect(verifyDelivery(type, token, {}, payload)).resolves.toEqual(
      refused(`the body is not a ${type} webhook payload`),
    );
  });
});

describe("webhook paths as index keys", () => {
  it.each([
    ["/hook/../../etc/passwd"],
    [`/hook/${"A".repeat(64)}`],
    [`/hook/${"a".repeat(63)}`],
    [`/hook/${"a".repeat(64)}/x`],
    [`/hook/${"a".repeat(64)}%2f`],
    [`/hooks/${"a".repeat(64)}`],
    [`/hook/${"a".repeat(64)}\n`],
  ])("refuses %j", (path) => {
    expect(digestOfPath(path)).toBeUndefined();
  });

  it("accepts Flux's path and yields its digest", () => {
    const path = webhookPath("t", "n", "ns");
    expect(digestOfPath(path)).toBe(path.slice("/hook/".length));
  });
});

describe("local delivery log", () => {
  it("remembers an id until it expires", async () => {
    let now = 0;
    const log = new MemoryDeliveryLog({ now: () => now, ttlMs: 1_000 });
    expect(await log.first("a")).toBe(true);
    expect(await log.first("a")).toBe(false);
    now = 1_000;
    expect(await log.first("a")).toBe(true);
  });

  it("stays bounded under a flood of fresh ids, forgetting the oldest first", async () => {
    const log = new MemoryDeliveryLog({ now: () => 0, maxEntries: 100 });
    for (let i = 0; i < 1_000; i++) await log.first(`id-${i}`);
    expect(log.size).toBe(100);
    expect(await log.first("id-999")).toBe(false);
    expect(await log.first("id-0")).toBe(true);
  });

  it("forgets an id whose delivery failed, so the retry is handled", async () => {
    const log = new MemoryDeliveryLog({ now: () => 0 });
    await log.first("a");
    await log.forget("a");
    expect(await log.first("a")).toBe(true);
  });
});

describe("what a Receiver may trigger", () => {
  const receiver = (resources: Receiver["spec"]["resources"]): Receiver => ({
    apiVersion: "notification.toolkit.fluxcd.io/v1",
    kind: "Receiver",
    metadata: { name: "hook", namespace: "team-a" },
    spec: { type: "generic", secretRef: { name: "token" }, resources },
  });
  const closed = { allowCrossNamespaceReceivers: false, noCrossNamespaceRefs: false };

  it("allows its own namespace, named explicitly or not", () => {
    expect(
      refusedResources(
        receiver([
          { kind: "GitRepository", name: "app" },
          { kind: "GitRepository", name: "x", namespace: "team-a" },
        ]),
        closed,
      ),
    ).toBeUndefined();
  });

  it("refuses another namespace with AccessDenied, naming the field", () => {
    const refused = refusedResources(
      receiver([
        { kind: "GitRepository", name: "app" },
        { kind: "GitRepository", name: "prod", namespace: "flux-system" },
      ]),
      closed,
    );
    expect(refused?.reason).toBe("AccessDenied");
    expect(refused?.message).toContain("spec.resources[1] (GitRepository/flux-system/prod) is in another namespace");
    expect(refused?.message).not.toContain("spec.resources[0]");
  });

  it("allows another namespace when the operator allows cross-namespace receivers", () => {
    expect(
      refusedResources(receiver([{ kind: "GitRepository", name: "prod", namespace: "flux-system" }]), {
        allowCrossNamespaceReceivers: true,
        noCrossNamespaceRefs: false,
      }),
    ).toBeUndefined();
  });

  it("keeps to its namespace under Flux's noCrossNamespaceRefs lockdown, whatever allowCrossNamespaceReceivers says", () => {
    const refused = refusedResources(receiver([{ kind: "GitRepository", name: "prod", namespace: "flux-system" }]), {
      allowCrossNamespaceReceivers: true,
      noCrossNamespaceRefs: true,
    });
    expect(refused?.reason).toBe("AccessDenied");
    expect(refused?.message).toContain("(noCrossNamespaceRefs is on)");
  });

  it("refuses spec.resourceFilter (not supported yet) and names with a slash, naming the field, instead of ignoring them", () => {
    const withFilter = {
      ...receiver([{ kind: "GitRepository", name: "app" }]),
      spec: {
        ...receiver([]).spec,
        resources: [{ kind: "GitRepository", name: "app" }],
        resourceFilter: "has(resource.metadata.labels.deploy)",
      },
    };
    expect(refusedResources(withFilter, closed)).toEqual({
      reason: "InvalidSpec",
      message: "refused: spec.resourceFilter: not supported by Sluice yet",
    });
    expect(refusedResources(receiver([{ kind: "GitRepository", name: "a/b" }]), closed)?.message).toContain(
      "spec.resources[0].name: 'a/b' is not an object name",
    );
  });

  it("refuses a wildcard without labels (it would select every object of the kind) and Receivers as targets", () => {
    const refused = refusedResources(
      receiver([
        { kind: "GitRepository", name: "*" },
        { kind: "GitRepository", name: "*", matchLabels: {} },
        { kind: "Receiver", name: "*", matchLabels: { a: "b" } },
      ]),
      closed,
    );
    expect(refused?.reason).toBe("InvalidSpec");
    expect(refused?.message).toContain("spec.resources[0]: matchLabels must be set when name is '*'");
    expect(refused?.message).toContain("spec.resources[1]: matchLabels must be set");
    expect(refused?.message).toContain("spec.resources[2]: a Receiver cannot trigger another Receiver");
  });
});
