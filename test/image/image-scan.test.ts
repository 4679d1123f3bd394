import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { ImagePolicy } from "../../src/api/imagepolicy.js";
import type { ImageRepository } from "../../src/api/imagerepository.js";
import { dispatch } from "../../src/controllers/dispatch.js";
import type { ReconcilerPorts } from "../../src/controllers/reconciler-ports.js";
import type { MemoryQueue } from "../../src/queue/memory-queue.js";
import { readEvents } from "../../src/notify/file-events.js";
import { applyToStore, updateObject } from "../../src/store/objects.js";
import { until } from "../controllers/helpers.js";
import { REGISTRY_USER, startAuthRegistry } from "../env/auth-registry.js";
import { front, sourceRuntime } from "../security/source-helpers.js";
import { pushTags } from "./registry-tags.js";

// ImageRepository and ImagePolicy against the test bed's registry (Debian's CNCF distribution registry),
// directly, with htpasswd auth, and behind fronts on loopback that count requests or answer as a hostile
// registry would. Reconciled through dispatch, as every runtime does.

const { host } = inject("testbed").registry;
let ports: ReconcilerPorts;
let eventsFile: string;
let serial = 0;
const closers: (() => unknown)[] = [];
const secrets: Record<string, Record<string, string>> = {};

beforeAll(async () => {
  ({ rt: ports, eventsFile } = await sourceRuntime({ allowPrivateNetworks: true, strictStatus: true }));
  ports.secrets = {
    secret: async ({ namespace, name }) => secrets[`${namespace}/${name}`],
    configMap: async () => undefined,
  };
});
afterAll(async () => {
  for (const close of closers) await close();
});

type RepoStatus = NonNullable<ImageRepository["status"]>;
type PolicyStatus = NonNullable<ImagePolicy["status"]>;
const ready = (status: RepoStatus | PolicyStatus) => status.conditions?.find((c) => c.type === "Ready");
const nextName = () => `img-${++serial}`;

async function reconcileRepo(name: string, spec: Partial<ImageRepository["spec"]>, extra: object = {}) {
  await applyToStore(ports.store, {
    apiVersion: "image.toolkit.fluxcd.io/v1",
    kind: "ImageRepository",
    metadata: { name, namespace: "apps", generation: 1, ...extra },
    spec: { image: `${host}/apps/${name}`, interval: "5m", ...spec },
  });
  const outcome = await dispatch(ports, { key: `ImageRepository/apps/${name}`, reason: "interval" });
  return { outcome: outcome!, status: outcome!.status as RepoStatus };
}

async function reconcilePolicy(
  name: string,
  spec: Partial<ImagePolicy["spec"]>,
  options: { namespace?: string; apiVersion?: string } = {},
) {
  const namespace = options.namespace ?? "apps";
  await applyToStore(ports.store, {
    apiVersion: options.apiVersion ?? "image.toolkit.fluxcd.io/v1",
    kind: "ImagePolicy",
    metadata: { name, namespace, generation: 1 },
    spec: { imageRepositoryRef: { name }, policy: { semver: { range: ">=0.0.0" } }, ...spec },
  });
  const outcome = await dispatch(ports, { key: `ImagePolicy/${namespace}/${name}`, reason: "interval" });
  return { outcome: outcome!, status: outcome!.status as PolicyStatus };
}

const eventsOf = async (kind: string, name: string) =>
  (await readEvents(eventsFile)).filter((e) => e.involvedObject.kind === kind && e.involvedObject.name === name);

describe("ImageRepository scans and ImagePolicy picks, from the test bed's registry", () => {
  it("scans every tag but the excluded ones, records Flux's status, and the policy resolves latestRef", async () => {
    // Prepare
    const name = nextName();
    const tags = [
      "1.0.0",
      "1.1.0",
      "1.2.0-rc.1",
      "sha256-0123.sig",
      ...Array.from({ length: 12 }, (_, i) => `0.${i}.0`),
    ];
    await pushTags(host, `apps/${name}`, tags);
    // Act
    const { status, outcome } = await reconcileRepo(name, {});
    const policy = await reconcilePolicy(name, { policy: { semver: { range: "1.x" } } });
    // Assess: the tag list as Flux stores it (descending, one per line) and hashes it
    const kept = tags
      .filter((t) => !t.endsWith(".sig"))
      .sort()
      .reverse();
    const revision = `sha256:${createHash("sha256")
      .update(kept.map((t) => `${t}\n`).join(""))
      .digest("hex")}`;
    expect(status.lastScanResult).toMatchObject({ tagCount: kept.length, revision, latestTags: kept.slice(0, 10) });
    expect(status.canonicalImageName).toBe(`${host}/apps/${name}`);
    expect(status.observedExclusionList).toEqual(["^.*\\.sig$"]);
    const message = `successful scan: found ${kept.length} tags with checksum ${revision}`;
    expect(ready(status)).toMatchObject({ status: "True", reason: "Succeeded", message });
    expect(outcome.changed).toBe(true);
    expect(policy.status.latestRef).toEqual({ name: `${host}/apps/${name}`, tag: "1.1.0" });
    expect(policy.status.observedPreviousRef).toBeUndefined();
    expect(ready(policy.status)).toMatchObject({
      status: "True",
      message: `Latest image tag for ${host}/apps/${name} resolved to 1.1.0`,
    });
    expect((await eventsOf("ImageRepository", name)).map((e) => [e.reason, e.message])).toEqual([
      ["Succeeded", message],
    ]);
  });

  it("a new tag changes the scan's revision, which wakes the policy; the old pick becomes observedPreviousRef", async () => {
    // Prepare
    const name = nextName();
    await pushTags(host, `apps/${name}`, ["1.0.0"]);
    await reconcileRepo(name, {});
    await reconcilePolicy(name, {});
    await pushTags(host, `apps/${name}`, ["1.0.1"]);
    // Act: `flux reconcile image repository` (a new requestedAt) scans before the interval
    const rescan = await reconcileRepo(name, {}, { annotations: { "reconcile.fluxcd.io/requestedAt": "now" } });
    const woken = (ports.queue as MemoryQueue).pending().filter((p) => p.key === `ImagePolicy/apps/${name}`);
    const policy = await reconcilePolicy(name, {});
    // Assess
    expect(rescan.outcome.changed).toBe(true);
    expect(woken.map((w) => w.reason)).toEqual(["source"]);
    expect(policy.status.latestRef?.tag).toBe("1.0.1");
    expect(policy.status.observedPreviousRef?.tag).toBe("1.0.0");
    expect(ready(policy.status)?.message).toBe(
      `Latest image tag for ${host}/apps/${name} resolved to 1.0.1 (previously ${host}/apps/${name}:1.0.0)`,
    );
  });

  it("does not list the registry again before the interval has passed", async () => {
    // Prepare
    const name = nextName();
    await pushTags(host, `apps/${name}`, ["1.0.0"]);
    const counted = await front(`http://${host}`);
    closers.push(counted.close);
    const image = `127.0.0.1:${counted.port}/apps/${name}`;
    const first = await reconcileRepo(name, { image });
    const before = counted.requests();
    // Act
    const again = await reconcileRepo(name, { image });
    // Assess
    expect(counted.requests()).toBe(before);
    expect(again.status).toEqual(first.status);
    expect(again.outcome.requeueAfterMs).toBeGreaterThan(4 * 60_000);
    expect(again.outcome.requeueAfterMs).toBeLessThanOrEqual(5 * 60_000);
  });

  it("reflects the digest of the picked tag: IfNotPresent once, Always on every reconcile", async () => {
    // Prepare
    const name = nextName();
    const digests = await pushTags(host, `apps/${name}`, ["2.0.0", "2.1.0"]);
    await reconcileRepo(name, {});
    // Act
    const ifNotPresent = await reconcilePolicy(name, { digestReflectionPolicy: "IfNotPresent" });
    const always = await reconcilePolicy(`${name}`, { digestReflectionPolicy: "Always", interval: "1m" });
    // Assess
    expect(ifNotPresent.status.latestRef).toEqual({
      name: `${host}/apps/${name}`,
      tag: "2.1.0",
      digest: digests["2.1.0"],
    });
    expect(always.status.latestRef?.digest).toBe(digests["2.1.0"]);
    expect(always.outcome.requeueAfterMs).toBe(60_000);
    expect(ready(always.status)?.message).toBe(
      `Latest image tag for ${host}/apps/${name} resolved to 2.1.0 with digest ${digests["2.1.0"]}`,
    );
  });

  it("removes the stored tags with a deleted ImageRepository", async () => {
    // Prepare
    const name = nextName();
    await pushTags(host, `apps/${name}`, ["1.0.0"]);
    await reconcileRepo(name, {});
    const stored = await ports.artifacts.list(`imagerepository/apps/${name}/`);
    const key = { kind: "ImageRepository", namespace: "apps", name };
    await updateObject(ports.store, key, (o) => void (o.metadata.deletionTimestamp = new Date().toISOString()));
    // Act
    const outcome = await dispatch(ports, { key: `ImageRepository/apps/${name}`, reason: "interval" });
    // Assess
    expect(stored).toHaveLength(1);
    expect(outcome?.finalized).toBe(true);
    expect(await ports.store.get(key)).toBeUndefined();
    expect(await ports.artifacts.list(`imagerepository/apps/${name}/`)).toEqual([]);
  });

  it("admits v1beta2 and v1beta1 objects as the same object, with v1's status", async () => {
    // Prepare
    const name = nextName();
    await pushTags(host, `apps/${name}`, ["3.0.0", "3.0.1"]);
    await reconcileRepo(name, {});
    // Act
    const beta2 = await reconcilePolicy(name, {}, { apiVersion: "image.toolkit.fluxcd.io/v1beta2" });
    const beta1 = await reconcilePolicy(name, {}, { apiVersion: "image.toolkit.fluxcd.io/v1beta1" });
    // Assess
    expect(beta2.status.latestRef?.tag).toBe("3.0.1");
    expect(beta1.status.latestRef?.tag).toBe("3.0.1");
    expect(ready(beta1.status)?.status).toBe("True");
  });

  it("stalls an image with a tag or a scheme, and a policy that cannot work, with Flux's messages", async () => {
    // Prepare
    const name = nextName();
    await pushTags(host, `apps/${name}`, ["1.0.0"]);
    // Act
    const tagged = await reconcileRepo(`${name}-tagged`, { image: `${host}/apps/${name}:1.0.0` });
    const scheme = await reconcileRepo(`${name}-scheme`, { image: `https://${host}/apps/${name}` });
    await reconcileRepo(name, {});
    const invalid = await reconcilePolicy(name, { policy: { semver: { range: "not a range" } } });
    const none = await reconcilePolicy(name, { policy: {} });
    // Assess
    expect(ready(tagged.status)).toMatchObject({
      status: "False",
      reason: "ImageURLInvalid",
      message: `image '${host}/apps/${name}:1.0.0' should not include a tag; remove ':1.0.0'`,
    });
    expect(ready(scheme.status)?.message).toBe(
      `image 'https://${host}/apps/${name}' should not include URL scheme; remove 'https://'`,
    );
    expect(tagged.outcome.requeueAfterMs).toBeUndefined();
    expect(ready(invalid.status)).toMatchObject({ reason: "InvalidPolicy" });
    expect(ready(invalid.status)?.message).toMatch(/^invalid policy: improper constraint/);
    expect(ready(none.status)?.message).toBe("invalid policy: given ImagePolicyChoice object is invalid");
  });
});

describe("an ImageRepository behind authentication", () => {
  let registry: Awaited<ReturnType<typeof startAuthRegistry>>;
  beforeAll(async () => {
    registry = await startAuthRegistry();
    closers.push(() => registry.stop());
  });

  it("a registry answering 401 makes the ImageRepository Ready=False, and its policy waits on it; the Secret mends both", async () => {
    // Prepare
    const name = nextName();
    await pushTags(registry.host, `apps/${name}`, ["1.0.0", "1.0.1"], registry.authorization);
    const image = `${registry.host}/apps/${name}`;
    // Act
    const refused = await reconcileRepo(name, { image });
    const waiting = await reconcilePolicy(name, {});
    secrets[`apps/${name}-pull`] = {
      ".dockerconfigjson": JSON.stringify({
        auths: { [registry.host]: { auth: registry.authorization.replace("Basic ", "") } },
      }),
    };
    const scanned = await reconcileRepo(name, { image, secretRef: { name: `${name}-pull` } });
    const picked = await reconcilePolicy(name, {});
    // Assess
    expect(ready(refused.status)).toMatchObject({ status: "False", reason: "ReadOperationFailed" });
    expect(ready(refused.status)?.message).toMatch(/^scan failed: .*(401|UNAUTHORIZED)/);
    const events = await eventsOf("ImageRepository", name);
    expect(events[0]).toMatchObject({ severity: "error", reason: "ReadOperationFailed" });
    expect(events[0]!.involvedObject).toMatchObject({ kind: "ImageRepository", namespace: "apps", name });
    expect(ready(waiting.status)).toMatchObject({
      status: "False",
      reason: "DependencyNotReady",
      message: "retrying in 30s error: no tags in database",
    });
    expect(ready(scanned.status)?.status).toBe("True");
    expect(picked.status.latestRef).toEqual({ name: image, tag: "1.0.1" });
    expect(JSON.stringify([refused.status, scanned.status, events])).not.toContain(registry.authorization.slice(6));
  });

  it("provider aws scans with the runtime's login when there is no secretRef, and fails naming aws without one", async () => {
    // Prepare: the htpasswd registry stands for ECR (the real ECR login is tested against moto in test/aws/ecr.test.ts)
    const name = nextName();
    await pushTags(registry.host, `apps/${name}`, ["1.0.0"], registry.authorization);
    const spec = { image: `${registry.host}/apps/${name}`, provider: "aws" as const };
    const asked: string[][] = [];
    const original = ports.registryLogin;
    try {
      // Act
      ports.registryLogin = { login: async (provider, host) => (asked.push([provider, host]), REGISTRY_USER) };
      const scanned = await reconcileRepo(name, spec);
      ports.registryLogin = undefined;
      const noIdentity = await reconcileRepo(`${name}-none`, spec);
      // Assess
      expect(ready(scanned.status)?.status).toBe("True");
      expect(scanned.status.lastScanResult?.tagCount).toBe(1);
      expect(asked).toEqual([["aws", registry.host]]);
      expect(ready(noIdentity.status)).toMatchObject({
        reason: "AuthenticationFailed",
        message: "failed to get credential from aws: this runtime has no cloud identity to log in with",
      });
    } finally {
      ports.registryLogin = original;
    }
  });

  it("a secretRef that does not exist is an AuthenticationFailed naming it", async () => {
    const name = nextName();
    const { status } = await reconcileRepo(name, {
      image: `${registry.host}/apps/${name}`,
      secretRef: { name: "nope" },
    });
    expect(ready(status)).toMatchObject({
      status: "False",
      reason: "AuthenticationFailed",
      message: "failed to configure authentication options: failed to get secret 'apps/nope': secret not found",
    });
  });
});

describe("a hostile registry", () => {
  /** A registry front answering the tag list with `answer` (other requests go to the test bed's registry). */
  async function hostile(answer: (url: URL) => { status?: number; headers?: Record<string, string>; body: string }) {
    const served = await front(`http://${host}`, (req, res) => {
      const url = new URL(req.url!, "http://front");
      if (!url.pathname.endsWith("/tags/list")) return false;
      const { status = 200, headers = {}, body } = answer(url);
      res.writeHead(status, { "content-type": "application/json", ...headers });
      res.end(body);
      return true;
    });
    closers.push(served.close);
    return served;
  }
  const scanOf = async (port: number) => {
    const name = nextName();
    return (await reconcileRepo(name, { image: `127.0.0.1:${port}/apps/${name}` })).status;
  };

  it("refuses a next page on another host", async () => {
    const served = await hostile(() => ({
      headers: { link: '<http://169.254.169.254/v2/x/tags/list?last=a>; rel="next"' },
      body: JSON.stringify({ tags: ["a"] }),
    }));
    const status = await scanOf(served.port);
    expect(ready(status)?.message).toMatch(/links to another origin \(http:\/\/169\.254\.169\.254\): refused$/);
  });

  it("refuses a body that is not a tag list, and a page over 4 MiB", async () => {
    const html = await hostile(() => ({ body: "<html>not json</html>" }));
    const huge = await hostile(() => ({
      body: JSON.stringify({ tags: Array.from({ length: 600_000 }, (_, i) => `t${i}`) }),
    }));
    expect(ready(await scanOf(html.port))?.message).toMatch(/is not a tag list$/);
    expect(ready(await scanOf(huge.port))?.message).toMatch(/exceeds 4194304 bytes: refused$/);
  });

  it("lists every page over one connection (one TLS handshake on a real registry), closed once listed", async () => {
    // Prepare: three pages of 1,000 tags
    const served = await hostile((url) => {
      const page = Number(url.searchParams.get("page") ?? "0");
      const tags = Array.from({ length: 1_000 }, (_, i) => `p${page}-${i}`);
      const headers: Record<string, string> =
        page < 2 ? { link: `<${url.pathname}?page=${page + 1}>; rel="next"` } : {};
      return { headers, body: JSON.stringify({ tags }) };
    });
    // Act
    const status = await scanOf(served.port);
    // Assess
    expect(ready(status)).toMatchObject({ status: "True" });
    expect((status as { lastScanResult: { tagCount: number } }).lastScanResult.tagCount).toBe(3_000);
    expect(served.requests()).toBe(3);
    await until("the listing's connection closed", async () => served.connections().open === 0);
    expect(served.connections().used).toBe(1);
  });

  it("stops a list of a million tags, served in pages that link on and on, at 100,000", async () => {
    // Prepare: 10,000 tags a page, each page linking to the next
    const served = await hostile((url) => {
      const page = Number(url.searchParams.get("page") ?? "0");
      const tags = Array.from({ length: 10_000 }, (_, i) => `p${page}-${i}`);
      const next = `/v2${url.pathname.slice(3)}?page=${page + 1}`;
      return { headers: { link: `<${next}>; rel="next"` }, body: JSON.stringify({ tags }) };
    });
    // Act
    const status = await scanOf(served.port);
    // Assess
    expect(ready(status)?.message).toMatch(/has more than 100000 tags$/);
    expect(served.requests()).toBeLessThanOrEqual(12);
  });

  it("drops tags no registry could serve (newlines, slashes, over 128 characters) before they are stored", async () => {
    const served = await hostile(() => ({
      body: JSON.stringify({ tags: ["1.0.0", "1.0.1\n9.9.9", "../../etc", "x".repeat(129), "2.0.0"] }),
    }));
    const status = await scanOf(served.port);
    expect(status.lastScanResult).toMatchObject({ tagCount: 2, latestTags: ["2.0.0", "1.0.0"] });
  });
});

describe("references across namespaces", () => {
  it("with --no-cross-namespace-refs, a policy naming another namespace's repository is denied as Flux denies it", async () => {
    // Prepare
    const name = nextName();
    await pushTags(host, `apps/${name}`, ["1.0.0"]);
    await reconcileRepo(name, { accessFrom: { namespaceSelectors: [{}] } });
    const saved = ports.settings;
    ports.settings = { ...saved, noCrossNamespaceRefs: true };
    // Act
    let denied;
    try {
      denied = await reconcilePolicy(
        name,
        { imageRepositoryRef: { name, namespace: "apps" } },
        { namespace: "team-b" },
      );
    } finally {
      ports.settings = saved;
    }
    // Assess
    expect(ready(denied.status)).toMatchObject({
      status: "False",
      reason: "AccessDenied",
      message: `failed to get the referred ImageRepository: cannot access 'ImageRepository/apps/${name}', cross-namespace references have been blocked`,
    });
  });

  it("a repository without accessFrom refuses policies of other namespaces", async () => {
    const name = nextName();
    await pushTags(host, `apps/${name}`, ["1.0.0"]);
    await reconcileRepo(name, {});
    const denied = await reconcilePolicy(
      name,
      { imageRepositoryRef: { name, namespace: "apps" } },
      { namespace: "team-c" },
    );
    expect(ready(denied.status)).toMatchObject({
      reason: "AccessDenied",
      message: `failed to get the referred ImageRepository: access denied: 'apps/${name}' can't be accessed due to missing ACL labels on 'accessFrom'`,
    });
  });

  it("a repository that does not exist is a dependency not ready", async () => {
    const { status } = await reconcilePolicy("absent", {});
    expect(ready(status)).toMatchObject({
      reason: "DependencyNotReady",
      message:
        'failed to get the referred ImageRepository: referenced ImageRepository does not exist: imagerepositories.image.toolkit.fluxcd.io "absent" not found',
    });
  });
});
