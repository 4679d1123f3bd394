import { mkdtemp, readdir, readFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createTlsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { OCIRepository } from "../../src/api/ocirepository.js";
import { extractArchive } from "../../src/artifacts/extract.js";
import { dispatch } from "../../src/controllers/dispatch.js";
import type { ReconcilerPorts } from "../../src/controllers/reconciler-ports.js";
import { readEvents } from "../../src/notify/file-events.js";
import { ecrLogin } from "../../src/aws/ecr.js";
import { applyToStore } from "../../src/store/objects.js";
import { FLUX_MEDIA_TYPES, pushLayers, pushOciArtifact, rawTarGz, tarGz } from "../env/oci.js";
import { REGISTRY_USER, startAuthRegistry } from "../env/auth-registry.js";
import { testCertificates } from "../env/pki.js";
import { front, sourceRuntime } from "../security/source-helpers.js";

// OCIRepository against the test bed's registry (Debian's CNCF distribution registry), directly and
// through fronts on loopback that count, tamper with or guard what the registry answers. Reconciled
// through dispatch, as every runtime does.

const { host } = inject("testbed").registry;
let ports: ReconcilerPorts;
let eventsFile: string;
let logs: string[];
let serial = 0;
const closers: (() => void)[] = [];

beforeAll(async () => {
  ({ rt: ports, eventsFile, logs } = await sourceRuntime({ allowPrivateNetworks: true, strictStatus: true }));
});
afterAll(() => closers.forEach((close) => close()));

type Status = NonNullable<OCIRepository["status"]>;
const condition = (status: Status, type: string) => status.conditions?.find((c) => c.type === type);
const MANIFESTS = { "deploy/configmap.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n" };

async function reconcile(name: string, spec: Partial<OCIRepository["spec"]>, generation = 1) {
  await applyToStore(ports.store, {
    apiVersion: "source.toolkit.fluxcd.io/v1",
    kind: "OCIRepository",
    metadata: { name, namespace: "apps", generation },
    spec: { interval: "5m", url: `oci://${host}/apps/${name}`, ...spec },
  });
  const outcome = await dispatch(ports, { key: `OCIRepository/apps/${name}`, reason: "interval" });
  const status = outcome!.status as Status;
  const events = (await readEvents(eventsFile)).filter(
    (e) => e.involvedObject.kind === "OCIRepository" && e.involvedObject.name === name,
  );
  return { status, events };
}

/** The files of a stored artifact, path → content. */
async function filesOf(status: Status): Promise<Record<string, string>> {
  const dir = await mkdtemp(join(tmpdir(), "sluice-oci-out-"));
  await extractArchive((await ports.artifacts.get(status.artifact!.path))!, dir);
  const files: Record<string, string> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true }))
    if (entry.isFile()) {
      const full = join(entry.parentPath, entry.name);
      files[full.slice(dir.length + 1)] = await readFile(full, "utf8");
    }
  return files;
}

const nextName = () => `oci-${++serial}`;

describe("OCIRepository from the test bed's registry", () => {
  it("stores a pushed artifact as Flux does: revision <tag>@<digest>, annotations as metadata, NewArtifact with its origin", async () => {
    // Prepare
    const name = nextName();
    const annotations = {
      "org.opencontainers.image.source": "https://github.com/org/app",
      "org.opencontainers.image.revision": "main@sha1:0123456789abcdef0123456789abcdef01234567",
    };
    const digest = await pushOciArtifact(host, `apps/${name}`, "latest", MANIFESTS, annotations);
    // Act
    const { status, events } = await reconcile(name, {});
    // Assess
    const revision = `latest@${digest}`;
    const message = `stored artifact for digest '${revision}'`;
    expect(condition(status, "Ready")).toMatchObject({ status: "True", reason: "Succeeded", message });
    expect(condition(status, "ArtifactInStorage")).toMatchObject({ status: "True", reason: "Succeeded", message });
    expect(status.artifact).toMatchObject({
      revision,
      metadata: annotations,
      path: `ocirepository/apps/${name}/${digest}.tar.gz`,
    });
    expect(await filesOf(status)).toEqual(MANIFESTS);
    expect(events.map((e) => [e.reason, e.message])).toEqual([
      [
        "NewArtifact",
        `stored artifact with revision '${revision}' from 'oci://${host}/apps/${name}', origin source '${annotations["org.opencontainers.image.source"]}', origin revision '${annotations["org.opencontainers.image.revision"]}'`,
      ],
    ]);
  });

  it("checks an unchanged tag with one HEAD request and downloads nothing; a moved tag is pulled", async () => {
    // Prepare: the registry behind a front that counts requests
    const name = nextName();
    await pushOciArtifact(host, `apps/${name}`, "v1", MANIFESTS);
    const counted = await front(`http://${host}`);
    closers.push(counted.close);
    const spec = { url: `oci://127.0.0.1:${counted.port}/apps/${name}`, ref: { tag: "v1" } };
    const first = await reconcile(name, spec);
    const before = counted.requests();
    // Act
    const again = await reconcile(name, spec);
    const noOp = counted.requests() - before;
    const moved = await pushOciArtifact(host, `apps/${name}`, "v1", { "deploy/other.yaml": "kind: Other\n" });
    const pulled = await reconcile(name, spec);
    // Assess
    expect(noOp).toBe(1);
    expect(again.status.artifact).toEqual(first.status.artifact);
    expect(again.events).toHaveLength(1);
    expect(pulled.status.artifact?.revision).toBe(`v1@${moved}`);
    expect(await filesOf(pulled.status)).toEqual({ "deploy/other.yaml": "kind: Other\n" });
  });

  it("picks the newest tag the semver range allows among those semverFilter keeps", async () => {
    const name = nextName();
    for (const tag of ["1.0.0", "1.2.0", "1.3.0-rc.1", "2.0.0", "1.4.0-dev", "latest"])
      await pushOciArtifact(host, `apps/${name}`, tag, { "tag.txt": tag });
    const ranged = await reconcile(name, { ref: { semver: ">=1.0.0 <2.0.0" } });
    const filtered = await reconcile(name, { ref: { semver: ">=1.0.0-0", semverFilter: ".*-dev$" } }, 2);
    const none = await reconcile(name, { ref: { semver: ">=3.0.0" } }, 3);
    expect(ranged.status.artifact?.revision).toMatch(/^1\.2\.0@sha256:/);
    expect(await filesOf(ranged.status)).toEqual({ "tag.txt": "1.2.0" });
    expect(filtered.status.artifact?.revision).toMatch(/^1\.4\.0-dev@sha256:/);
    expect(condition(none.status, "Ready")).toMatchObject({
      status: "False",
      reason: "ReadOperationFailed",
      message: `failed to determine the artifact tag for 'oci://${host}/apps/${name}': no match found for semver: >=3.0.0`,
    });
    expect(condition(none.status, "FetchFailed")?.reason).toBe("ReadOperationFailed");
  });

  it("pulls a digest as its own revision, takes the layer layerSelector names and copies it when asked", async () => {
    // Prepare: a second layer of another media type, holding other files
    const name = nextName();
    const yaml = await tarGz(MANIFESTS);
    const extra = await tarGz({ "extra.txt": "x" });
    const digest = await pushLayers(host, `apps/${name}`, "v1", [
      { data: yaml, mediaType: FLUX_MEDIA_TYPES.content },
      { data: extra, mediaType: "application/vnd.example.extra.v1.tar+gzip" },
    ]);
    // Act (an artifact is named by its digest, as Flux names it: each one is read before the next reconcile)
    const byDigest = await reconcile(name, { ref: { digest } });
    const byDigestFiles = await filesOf(byDigest.status);
    const extraType = "application/vnd.example.extra.v1.tar+gzip";
    const selected = await reconcile(name, { ref: { tag: "v1" }, layerSelector: { mediaType: extraType } }, 2);
    const selectedFiles = await filesOf(selected.status);
    const copied = await reconcile(name, { ref: { tag: "v1" }, layerSelector: { operation: "copy" } }, 3);
    const missing = await reconcile(name, { ref: { tag: "v1" }, layerSelector: { mediaType: "text/plain" } }, 4);
    // Assess
    expect(byDigest.status.artifact?.revision).toBe(digest);
    expect(byDigestFiles).toEqual(MANIFESTS);
    expect(selected.status.artifact?.revision).toBe(`v1@${digest}`);
    expect(selectedFiles).toEqual({ "extra.txt": "x" });
    expect(await ports.artifacts.get(copied.status.artifact!.path)).toEqual(yaml);
    expect(copied.status.observedLayerSelector).toEqual({ operation: "copy" });
    expect(condition(missing.status, "Ready")).toMatchObject({
      status: "False",
      reason: "OCIArtifactLayerOperationFailed",
      message: "failed to find layer with media type 'text/plain' in artifact",
    });
    // the failed pull keeps the last stored artifact and says a newer one is wanted
    expect(missing.status.artifact).toEqual(copied.status.artifact);
  });

  it("stalls on a URL that names no repository or carries a tag, as URLInvalid", async () => {
    const tagged = await reconcile(nextName(), { url: `oci://${host}/apps/app:v1` });
    expect(condition(tagged.status, "Stalled")).toMatchObject({ status: "True", reason: "URLInvalid" });
    expect(condition(tagged.status, "Ready")?.message).toBe(
      `URL validation failed for 'oci://${host}/apps/app:v1': URL must not contain a tag; remove ':v1'`,
    );
  });
});

describe("OCIRepository against a hostile registry", () => {
  /** A front whose `tamper` may answer a request instead of the registry. */
  async function hostile(tamper: (req: IncomingMessage, res: ServerResponse) => boolean) {
    const server = await front(`http://${host}`, tamper);
    closers.push(server.close);
    return `oci://127.0.0.1:${server.port}`;
  }

  async function refused(name: string, url: string) {
    const result = await reconcile(name, { url });
    expect(result.status.artifact).toBeUndefined();
    expect(await ports.artifacts.list(`ocirepository/apps/${name}/`)).toEqual([]);
    return condition(result.status, "Ready")!;
  }

  it("refuses a layer whose bytes are not its digest", async () => {
    const name = nextName();
    await pushOciArtifact(host, `apps/${name}`, "latest", MANIFESTS);
    const url = await hostile((req, res) => {
      if (!req.url?.includes("/blobs/")) return false;
      // the real layer with one byte changed: same size, another digest
      void fetch(`http://${host}${req.url}`).then(async (answer) => {
        const body = Buffer.from(await answer.arrayBuffer());
        body.writeUInt8(body.readUInt8(body.length - 1) ^ 1, body.length - 1);
        res.writeHead(200, { "content-length": body.length }).end(body);
      });
      return true;
    });
    const ready = await refused(name, `${url}/apps/${name}`);
    expect(ready).toMatchObject({ status: "False", reason: "OCIArtifactLayerOperationFailed" });
    expect(ready.message).toMatch(
      /^failed to extract layer contents from artifact: blob (sha256:\w+) has digest sha256:\w+: refused$/,
    );
  });

  it("refuses a layer served larger than its descriptor, cutting the body off at the descriptor's size", async () => {
    const name = nextName();
    await pushOciArtifact(host, `apps/${name}`, "latest", MANIFESTS);
    const url = await hostile((req, res) => {
      if (!req.url?.includes("/blobs/")) return false;
      res.writeHead(200).end(Buffer.alloc(1 << 20, 1)); // no content-length: the body itself must be cut
      return true;
    });
    const oversized = await refused(name, `${url}/apps/${name}`);
    expect(oversized.reason).toBe("OCIArtifactLayerOperationFailed");
    expect(oversized.message).toMatch(/exceeds \d+ bytes: refused/);
  });

  it("refuses a manifest of another media type", async () => {
    const name = nextName();
    await pushOciArtifact(host, `apps/${name}`, "latest", MANIFESTS);
    const url = await hostile((req, res) => {
      if (!req.url?.includes("/manifests/") || req.method === "HEAD") return false;
      res.writeHead(200, { "content-type": "application/vnd.docker.distribution.manifest.v1+prettyjws" });
      res.end(JSON.stringify({ schemaVersion: 1, name: `apps/${name}`, fsLayers: [] }));
      return true;
    });
    const ready = await refused(name, `${url}/apps/${name}`);
    expect(ready.reason).toBe("OCIArtifactPullFailed");
    expect(ready.message).toContain("has media type 'application/vnd.docker.distribution.manifest.v1+prettyjws'");
  });

  it("refuses a tar with a '..' entry, and drops symbolic links (as Flux) so nothing lands outside the artifact", async () => {
    const escape = nextName();
    await pushLayers(host, `apps/${escape}`, "latest", [
      {
        data: rawTarGz([{ path: "../../escaped.yaml", body: "kind: Escaped\n" }]),
        mediaType: FLUX_MEDIA_TYPES.content,
      },
    ]);
    const linked = nextName();
    await pushLayers(host, `apps/${linked}`, "latest", [
      {
        data: rawTarGz([
          { path: "etc", type: "SymbolicLink", linkpath: "/etc" },
          { path: "etc/written-through.yaml", body: "kind: Through\n" },
          { path: "ok.yaml", body: "kind: Ok\n" },
        ]),
        mediaType: FLUX_MEDIA_TYPES.content,
      },
    ]);
    const dotdot = await refused(escape, `oci://${host}/apps/${escape}`);
    const withLink = await reconcile(linked, {});
    expect(dotdot).toMatchObject({ status: "False", reason: "OCIArtifactLayerOperationFailed" });
    expect(dotdot.message).toContain("archive entry ../../escaped.yaml: '..' is not allowed");
    expect(await filesOf(withLink.status)).toEqual({
      "etc/written-through.yaml": "kind: Through\n",
      "ok.yaml": "kind: Ok\n",
    });
  });

  it("refuses a layer that names a path twice, or writes through a file as if it were a folder", async () => {
    const twice = nextName();
    const through = nextName();
    const layer = (entries: Parameters<typeof rawTarGz>[0]) => [
      { data: rawTarGz(entries), mediaType: FLUX_MEDIA_TYPES.content },
    ];
    await pushLayers(
      host,
      `apps/${twice}`,
      "latest",
      layer([
        { path: "a.yaml", body: "kind: First\n" },
        { path: "a.yaml", body: "kind: Second\n" },
      ]),
    );
    await pushLayers(
      host,
      `apps/${through}`,
      "latest",
      layer([
        { path: "x", body: "kind: File\n" },
        { path: "x/y.yaml", body: "kind: Under\n" },
      ]),
    );
    const duplicate = await refused(twice, `oci://${host}/apps/${twice}`);
    const underFile = await refused(through, `oci://${host}/apps/${through}`);
    expect(duplicate.message).toContain("archive entry a.yaml: collides with an earlier entry");
    expect(underFile.message).toContain("archive entry x/y.yaml: collides with an earlier entry");
  });

  it("follows a paged tag list on the registry's origin only", async () => {
    const name = nextName();
    for (const tag of ["1.0.0", "2.0.0"]) await pushOciArtifact(host, `apps/${name}`, tag, { "tag.txt": tag });
    const paged = (next: string) =>
      hostile((req, res) => {
        if (!req.url?.includes("/tags/list")) return false;
        const first = !req.url.includes("last=");
        res.writeHead(200, {
          "content-type": "application/json",
          ...(first && { link: `<${next}>; rel="next"` }),
        });
        res.end(JSON.stringify({ name: `apps/${name}`, tags: first ? ["1.0.0"] : ["2.0.0"] }));
        return true;
      });
    const same = await paged(`/v2/apps/${name}/tags/list?last=1.0.0&n=1`);
    const elsewhere = await paged(`http://localhost:9/v2/apps/${name}/tags/list?last=1.0.0`);
    const followed = await reconcile(name, { url: `${same}/apps/${name}`, ref: { semver: ">=1.0.0" } });
    const refusedLink = await reconcile(name, { url: `${elsewhere}/apps/${name}`, ref: { semver: ">=1.0.0" } }, 2);
    expect(followed.status.artifact?.revision).toMatch(/^2\.0\.0@sha256:/);
    expect(condition(refusedLink.status, "Ready")).toMatchObject({ status: "False", reason: "ReadOperationFailed" });
    expect(condition(refusedLink.status, "Ready")?.message).toContain(
      "links to another origin (http://localhost:9): refused",
    );
  });

  it("refuses a redirect to a metadata address", async () => {
    const name = nextName();
    await pushOciArtifact(host, `apps/${name}`, "latest", MANIFESTS);
    const url = await hostile((req, res) => {
      if (!req.url?.includes("/blobs/")) return false;
      res.writeHead(307, { location: "http://169.254.169.254/latest/meta-data/" }).end();
      return true;
    });
    const ready = await refused(name, `${url}/apps/${name}`);
    expect(ready.reason).toBe("OCIArtifactLayerOperationFailed");
    expect(ready.message).toContain("address 169.254.169.254 is link-local/metadata and never fetched");
  });
});

describe("OCIRepository registry authentication", () => {
  const secretName = "regcred";
  const user = REGISTRY_USER;

  /** A registry front that wants a bearer token from `realm` (its own /token unless given). */
  async function tokenRegistry(options: { realm?: (port: number) => string } = {}) {
    const seen: { path: string; authorization?: string }[] = [];
    const basic = `Basic ${Buffer.from(`${user.username}:${user.password}`).toString("base64")}`;
    let port = 0;
    const server = await front(`http://${host}`, (req, res) => {
      seen.push({ path: req.url ?? "", authorization: req.headers.authorization });
      if (req.url?.startsWith("/token")) {
        if (req.headers.authorization !== basic) res.writeHead(401).end();
        else
          res
            .writeHead(200, { "content-type": "application/json" })
            .end(JSON.stringify({ token: "t0k3n", expires_in: 300 }));
        return true;
      }
      if (req.headers.authorization === "Bearer t0k3n") return false;
      const realm = options.realm?.(port) ?? `http://127.0.0.1:${port}/token`;
      res.writeHead(401, { "www-authenticate": `Bearer realm="${realm}",service="test-registry"` }).end();
      return true;
    });
    port = server.port;
    closers.push(server.close);
    return { url: `oci://127.0.0.1:${server.port}`, seen, requests: server.requests };
  }

  function withSecret(data: Record<string, string> | undefined) {
    ports.secrets = {
      secret: async ({ name }) => (name === secretName ? data : undefined),
      configMap: async () => undefined,
    };
  }
  const dockerConfig = (registry: string) => ({
    ".dockerconfigjson": JSON.stringify({
      auths: { [registry]: { auth: Buffer.from(`${user.username}:${user.password}`).toString("base64") } },
    }),
  });

  it("answers the bearer challenge with a token got with the dockerconfigjson credentials, then checks in one request", async () => {
    const name = nextName();
    await pushOciArtifact(host, `apps/${name}`, "latest", MANIFESTS);
    const registry = await tokenRegistry();
    withSecret(dockerConfig(registry.url.replace("oci://", "")));
    try {
      const first = await reconcile(name, { url: `${registry.url}/apps/${name}`, secretRef: { name: secretName } });
      const before = registry.requests();
      const again = await reconcile(name, { url: `${registry.url}/apps/${name}`, secretRef: { name: secretName } });
      expect(condition(first.status, "Ready")?.status).toBe("True");
      expect(registry.seen.find((s) => s.path.startsWith("/token"))?.path).toContain(
        `scope=${encodeURIComponent(`repository:apps/${name}:pull`)}`,
      );
      expect(condition(again.status, "Ready")?.status).toBe("True");
      expect(registry.requests() - before).toBe(1);
      // Neither the password nor the token reaches a status, an event or the log.
      const written = [JSON.stringify(first.status), JSON.stringify(await readEvents(eventsFile)), ...logs].join("\n");
      for (const secret of [
        user.password,
        "t0k3n",
        Buffer.from(`${user.username}:${user.password}`).toString("base64"),
      ])
        expect(written).not.toContain(secret);
    } finally {
      withSecret(undefined);
    }
  });

  it("fails as AuthenticationFailed without credentials, and never sends them to a plain-HTTP token realm on another host", async () => {
    const name = nextName();
    await pushOciArtifact(host, `apps/${name}`, "latest", MANIFESTS);
    const stolen: (string | undefined)[] = [];
    const tokenServer = createServer(
      (req, res) => void (stolen.push(req.headers.authorization), res.writeHead(200).end("{}")),
    );
    await new Promise<void>((done) => tokenServer.listen(0, "127.0.0.1", done));
    closers.push(() => tokenServer.close().closeAllConnections());
    const elsewhere = `http://localhost:${(tokenServer.address() as AddressInfo).port}/token`;
    const registry = await tokenRegistry({ realm: () => elsewhere });
    withSecret(dockerConfig(registry.url.replace("oci://", "")));
    try {
      const spec = { url: `${registry.url}/apps/${name}`, secretRef: { name: secretName } };
      const refused = await reconcile(name, spec);
      withSecret(undefined);
      const anonymous = await reconcile(name, { url: `${registry.url}/apps/${name}` }, 2);
      const message = condition(refused.status, "Ready")!.message;
      expect(condition(refused.status, "Ready")?.reason).toBe("AuthenticationFailed");
      expect(message).toContain("refused to send credentials to the plain-HTTP token realm http://localhost:");
      expect(message).not.toContain(user.password);
      expect(stolen).not.toContainEqual(expect.stringMatching(/^Basic/));
      expect(condition(anonymous.status, "Ready")?.reason).toBe("AuthenticationFailed");
      expect(condition(anonymous.status, "Ready")?.message).toContain("the token endpoint");
    } finally {
      withSecret(undefined);
    }
  });

  it("pulls from a registry with htpasswd authentication (a Basic challenge) with the Secret's credentials, and only with them", async () => {
    // Prepare: a second docker-registry, its pushes authorized too
    const registry = await startAuthRegistry();
    closers.push(() => void registry.stop());
    const name = nextName();
    await pushOciArtifact(registry.host, `apps/${name}`, "latest", MANIFESTS, {}, registry.authorization);
    const url = `oci://${registry.host}/apps/${name}`;
    try {
      // Act
      withSecret(dockerConfig(`https://${registry.host}`));
      const pulled = await reconcile(name, { url, secretRef: { name: secretName } });
      withSecret(dockerConfig("registry.elsewhere.example"));
      const otherRegistry = await reconcile(name, { url, secretRef: { name: secretName } }, 2);
      withSecret(undefined);
      const anonymous = await reconcile(name, { url }, 3);
      // Assess
      expect(condition(pulled.status, "Ready")?.status).toBe("True");
      expect(await filesOf(pulled.status)).toEqual(MANIFESTS);
      for (const refused of [otherRegistry, anonymous]) {
        expect(condition(refused.status, "Ready")).toMatchObject({ status: "False", reason: "AuthenticationFailed" });
        expect(condition(refused.status, "Ready")?.message).toContain("401 Unauthorized: authentication required");
      }
    } finally {
      withSecret(undefined);
    }
  });

  it("provider aws: credentials from the runtime's identity when there is no secretRef, refused for a host that is not ECR's", async () => {
    // Prepare: the htpasswd registry stands for ECR; the runtime's login is asked for it (the real ECR login is tested
    // against moto in test/aws/ecr.test.ts)
    const registry = await startAuthRegistry();
    closers.push(() => void registry.stop());
    const name = nextName();
    await pushOciArtifact(registry.host, `apps/${name}`, "latest", MANIFESTS, {}, registry.authorization);
    const spec = { url: `oci://${registry.host}/apps/${name}`, provider: "aws" as const };
    const asked: string[][] = [];
    const original = ports.registryLogin;
    try {
      // Act
      ports.registryLogin = { login: async (provider, host) => (asked.push([provider, host]), REGISTRY_USER) };
      const pulled = await reconcile(name, spec);
      withSecret(dockerConfig(registry.host));
      await reconcile(name, { ...spec, secretRef: { name: secretName } }, 2);
      withSecret(undefined);
      ports.registryLogin = undefined;
      const noIdentity = await reconcile(name, spec, 3);
      ports.registryLogin = ecrLogin({ region: "eu-west-1" }, ports.clock);
      const notEcr = await reconcile(name, spec, 4);
      // Assess
      expect(condition(pulled.status, "Ready")?.status).toBe("True");
      expect(asked).toEqual([["aws", registry.host]]); // not asked when a secretRef gives credentials
      expect(condition(noIdentity.status, "Ready")).toMatchObject({
        reason: "AuthenticationFailed",
        message: "failed to get credential from aws: this runtime has no cloud identity to log in with",
      });
      expect(condition(notEcr.status, "Ready")).toMatchObject({
        reason: "AuthenticationFailed",
        message: `failed to get credential from aws: '${registry.host}' is not an ECR registry (<account>.dkr.ecr.<region>.amazonaws.com)`,
      });
    } finally {
      ports.registryLogin = original;
      withSecret(undefined);
    }
  });

  it("certSecretRef: trusts its ca.crt and presents its client certificate to a registry that requires one", async () => {
    // Prepare: the registry behind an HTTPS front with a certificate of the test CA, asking for a client certificate
    const pki = await testCertificates();
    const tls = createTlsServer(
      { cert: pki.serverCert, key: pki.serverKey, ca: pki.ca, requestCert: true, rejectUnauthorized: true },
      (req, res) =>
        void fetch(`http://${host}${req.url}`, {
          method: req.method,
          headers: { accept: req.headers.accept ?? "*/*" },
        }).then(async (answer) => {
          res.writeHead(answer.status, Object.fromEntries(answer.headers));
          res.end(Buffer.from(await answer.arrayBuffer()));
        }),
    );
    await new Promise<void>((done) => tls.listen(0, "127.0.0.1", done));
    closers.push(() => tls.close().closeAllConnections());
    const name = nextName();
    await pushOciArtifact(host, `apps/${name}`, "latest", MANIFESTS);
    const url = `oci://127.0.0.1:${(tls.address() as AddressInfo).port}/apps/${name}`;
    ports.secrets = {
      secret: async ({ name: secret }) =>
        secret === "registry-tls"
          ? { "ca.crt": pki.ca, "tls.crt": pki.clientCert, "tls.key": pki.clientKey }
          : undefined,
      configMap: async () => undefined,
    };
    try {
      // Act
      const trusted = await reconcile(name, { url, certSecretRef: { name: "registry-tls" } });
      const untrusted = await reconcile(name, { url }, 2);
      // Assess
      expect(condition(trusted.status, "Ready")?.status).toBe("True");
      expect(await filesOf(trusted.status)).toEqual(MANIFESTS);
      expect(condition(untrusted.status, "Ready")).toMatchObject({ status: "False", reason: "OCIArtifactPullFailed" });
      expect(condition(untrusted.status, "Ready")?.message).toMatch(/certificate/);
    } finally {
      withSecret(undefined);
    }
  });

  it("names a missing Secret, and a token realm at a metadata address is refused by the network guard", async () => {
    const name = nextName();
    await pushOciArtifact(host, `apps/${name}`, "latest", MANIFESTS);
    const registry = await tokenRegistry({ realm: () => "http://169.254.169.254/token" });
    const missing = await reconcile(name, { url: `${registry.url}/apps/${name}`, secretRef: { name: "absent" } });
    const guarded = await reconcile(name, { url: `${registry.url}/apps/${name}` }, 2);
    expect(condition(missing.status, "Ready")).toMatchObject({
      reason: "AuthenticationFailed",
      message: "failed to get credential: failed to get secret 'apps/absent': secret not found",
    });
    expect(condition(guarded.status, "Ready")?.message).toContain("169.254.169.254 is link-local/metadata");
  });
});
