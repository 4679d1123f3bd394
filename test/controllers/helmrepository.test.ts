import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createTlsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { HelmRepository } from "../../src/api/helmrepository.js";
import { dispatch } from "../../src/controllers/dispatch.js";
import type { ReconcilerPorts } from "../../src/controllers/reconciler-ports.js";
import { readEvents } from "../../src/notify/file-events.js";
import { applyToStore } from "../../src/store/objects.js";
import { publishChart, tinyChart } from "../env/charts.js";
import { testCertificates } from "../env/pki.js";
import { sourceRuntime } from "../security/source-helpers.js";

// HelmRepository against the test bed's static Helm repository and small servers of our own for what it
// cannot do (basic auth, redirects, hostile indexes). Reconciled through dispatch, as every runtime does.

const helmRepo = inject("testbed").helmRepo;
const SECRETS: Record<string, Record<string, string>> = {
  "helm-auth": { username: "reader", password: "s3cret-pass" },
  "helm-wrong": { username: "reader", password: "wrong" },
};

let ports: ReconcilerPorts;
let eventsFile: string;
let serial = 0;
const servers: { close(): void }[] = [];

beforeAll(async () => {
  ({ rt: ports, eventsFile } = await sourceRuntime({ allowPrivateNetworks: true, strictStatus: true }));
  ports.secrets = { secret: async ({ name }) => SECRETS[name], configMap: async () => undefined };
  await publishChart(helmRepo, await tinyChart("hello", "1.0.0"));
});
afterAll(() => servers.forEach((s) => s.close()));

/** A server on loopback answering with `handle`; records each request's Authorization header. */
async function serve(handle: (req: IncomingMessage, res: ServerResponse) => void) {
  const seen: (string | undefined)[] = [];
  const server = createServer((req, res) => {
    seen.push(req.headers.authorization);
    handle(req, res);
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  servers.push({ close: () => server.close().closeAllConnections() });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

const indexServer = (body: string | Buffer) =>
  serve((_req, res) => void res.writeHead(200, { "content-type": "application/x-yaml" }).end(body));

/** Stores a HelmRepository, reconciles it once, and returns its status and the events it got. */
async function reconcile(spec: Partial<HelmRepository["spec"]>, name = `repo-${++serial}`) {
  const object = {
    apiVersion: "source.toolkit.fluxcd.io/v1",
    kind: "HelmRepository",
    metadata: { name, namespace: "apps", generation: 1 },
    spec: { interval: "5m", url: helmRepo.url, ...spec },
  };
  await applyToStore(ports.store, object);
  const outcome = await dispatch(ports, { key: `HelmRepository/apps/${name}`, reason: "interval" });
  const events = (await readEvents(eventsFile)).filter((e) => e.involvedObject.name === name);
  return { status: outcome!.status as NonNullable<HelmRepository["status"]>, events, name };
}

const ready = (status: NonNullable<HelmRepository["status"]>) => status.conditions?.find((c) => c.type === "Ready");

describe("HelmRepository (HTTP index)", () => {
  it("stores the fetched index as a JSON artifact whose revision is the sha256 of the index.yaml served", async () => {
    // Act
    const { status, events } = await reconcile({});
    // Assess
    const served = await readFile(join(helmRepo.dir, "index.yaml"));
    const revision = `sha256:${createHash("sha256").update(served).digest("hex")}`;
    expect(ready(status)).toMatchObject({
      status: "True",
      reason: "Succeeded",
      message: `stored artifact: revision '${revision}'`,
    });
    expect(status.conditions?.find((c) => c.type === "ArtifactInStorage")?.status).toBe("True");
    expect(status.artifact).toMatchObject({ revision, path: expect.stringMatching(/index-[0-9a-f]{64}\.yaml$/) });
    const stored = JSON.parse((await ports.artifacts.get(status.artifact!.path, status.artifact!.digest))!.toString());
    expect(stored.entries.hello[0]).toMatchObject({ name: "hello", version: "1.0.0" });
    expect(events.map((e) => [e.reason, e.message])).toEqual([
      [
        "NewArtifact",
        expect.stringMatching(new RegExp(`^stored fetched index of size [0-9.]+k?B from '${helmRepo.url}'$`)),
      ],
    ]);
  });

  it("leaves an unchanged index unparsed and its artifact as it was; a new chart version is a new revision, newest first", async () => {
    // Prepare
    const first = await reconcile({}, "moving");
    // Act
    const again = await reconcile({}, "moving");
    await publishChart(helmRepo, await tinyChart("hello", "1.1.0"));
    const moved = await reconcile({}, "moving");
    // Assess
    expect(again.status.artifact).toEqual(first.status.artifact);
    expect(again.events).toHaveLength(1); // only the first NewArtifact
    expect(moved.status.artifact!.revision).not.toBe(first.status.artifact!.revision);
    const stored = JSON.parse((await ports.artifacts.get(moved.status.artifact!.path))!.toString());
    expect(stored.entries.hello.map((v: { version: string }) => v.version)).toEqual(["1.1.0", "1.0.0"]);
    expect(moved.events.map((e) => e.reason)).toEqual(["NewArtifact", "NewArtifact"]);
  });

  it("sends basic auth from secretRef; wrong credentials fail with the server's answer and recover", async () => {
    // Prepare: a repository that wants reader/s3cret-pass
    const index = await readFile(join(helmRepo.dir, "index.yaml"));
    const expected = `Basic ${Buffer.from("reader:s3cret-pass").toString("base64")}`;
    const { url } = await serve((req, res) =>
      req.headers.authorization === expected ? void res.writeHead(200).end(index) : void res.writeHead(401).end(),
    );
    // Act
    const denied = await reconcile({ url, secretRef: { name: "helm-wrong" } }, "private");
    const allowed = await reconcile({ url, secretRef: { name: "helm-auth" } }, "private");
    const missing = await reconcile({ url, secretRef: { name: "absent" } });
    // Assess
    expect(ready(denied.status)).toMatchObject({ status: "False", reason: "Failed" });
    expect(ready(denied.status)?.message).toBe(
      `failed to fetch Helm repository index: failed to cache index to temporary file: failed to fetch ${url}/index.yaml : 401 Unauthorized`,
    );
    expect(ready(allowed.status)?.status).toBe("True");
    expect(allowed.status.conditions?.find((c) => c.type === "FetchFailed")).toBeUndefined();
    expect(ready(missing.status)).toMatchObject({
      status: "False",
      reason: "AuthenticationFailed",
      message: "failed to get authentication secret 'apps/absent': secret not found",
    });
  });

  it("does not send the credentials to another origin a redirect points to", async () => {
    // Prepare
    const index = await readFile(join(helmRepo.dir, "index.yaml"));
    const elsewhere = await indexServer(index);
    const redirector = await serve(
      (_req, res) => void res.writeHead(302, { location: `${elsewhere.url}/index.yaml` }).end(),
    );
    // Act
    const { status } = await reconcile({ url: redirector.url, secretRef: { name: "helm-auth" } });
    // Assess
    expect(ready(status)?.status).toBe("True");
    expect(redirector.seen[0]).toMatch(/^Basic /);
    expect(elsewhere.seen).toEqual([undefined]);
  });

  it("certSecretRef: trusts its ca.crt and presents its tls.crt/tls.key to a server that requires a client certificate", async () => {
    // Prepare: a CA that signed the server's certificate (for 127.0.0.1) and the client's
    const pki = await testCertificates();
    const index = await readFile(join(helmRepo.dir, "index.yaml"));
    const server = createTlsServer(
      { cert: pki.serverCert, key: pki.serverKey, ca: pki.ca, requestCert: true, rejectUnauthorized: true },
      (_req, res) => void res.writeHead(200).end(index),
    );
    await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
    servers.push({ close: () => server.close().closeAllConnections() });
    const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    SECRETS["helm-tls"] = { "ca.crt": pki.ca, "tls.crt": pki.clientCert, "tls.key": pki.clientKey };
    SECRETS["helm-ca-only"] = { "ca.crt": pki.ca };
    SECRETS["helm-tls-legacy"] = { caFile: pki.ca, certFile: pki.clientCert, keyFile: pki.clientKey };
    // Act
    const withCert = await reconcile({ url, certSecretRef: { name: "helm-tls" } });
    // Deprecated, still read by source-controller: TLS in secretRef, standard keys (as `flux create source helm --cert-file` writes) or legacy ones
    const inSecretRef = await reconcile({ url, secretRef: { name: "helm-tls" } });
    const legacyKeys = await reconcile({ url, secretRef: { name: "helm-tls-legacy" } });
    const caOnly = await reconcile({ url, certSecretRef: { name: "helm-ca-only" } });
    const untrusted = await reconcile({ url });
    // Assess
    expect(ready(withCert.status)?.status).toBe("True");
    expect(ready(inSecretRef.status)?.status).toBe("True");
    expect(ready(legacyKeys.status)?.status).toBe("True");
    expect(ready(caOnly.status)).toMatchObject({ status: "False", reason: "Failed" });
    expect(ready(untrusted.status)?.message).toMatch(/self[- ]signed|unable to verify|certificate/i);
  });

  it("timeout bounds the fetch: a server that never answers fails after spec.timeout", async () => {
    const { url } = await serve(() => {}); // accepts, never answers
    const started = Date.now();
    const { status } = await reconcile({ url, timeout: "1s" });
    expect(ready(status)).toMatchObject({
      status: "False",
      reason: "Failed",
      message:
        "failed to fetch Helm repository index: failed to cache index to temporary file: timed out after 1s (spec.timeout)",
    });
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("suspend: the status is left as it was", async () => {
    const { status } = await reconcile({ suspend: true });
    expect(status).toBeUndefined();
  });
});

describe("HelmRepository: hostile repositories", () => {
  it("a malformed index is IndexationFailed, retried, and stores nothing", async () => {
    const { url } = await indexServer("apiVersion: v1\nentries: [unclosed\n");
    const { status } = await reconcile({ url });
    expect(ready(status)).toMatchObject({ status: "False", reason: "IndexationFailed" });
    expect(ready(status)?.message).toMatch(/^failed to load Helm repository from index YAML: failed to load index: /);
    expect(status.conditions?.find((c) => c.type === "FetchFailed")?.status).toBe("True");
    expect(status.conditions?.find((c) => c.type === "Stalled")).toBeUndefined();
    expect(status.artifact).toBeUndefined();
  });

  it("an index with a field Helm does not know, or without apiVersion, is IndexationFailed as Helm's strict loader has it", async () => {
    const unknown = await indexServer("apiVersion: v1\nentries: {}\nsurprise: 1\n");
    const noVersion = await indexServer("entries: {}\n");
    expect(ready((await reconcile({ url: unknown.url })).status)?.message).toContain('unknown field "surprise"');
    expect(ready((await reconcile({ url: noVersion.url })).status)?.message).toContain("no API version specified");
  });

  it("a YAML alias bomb is refused before it expands", async () => {
    const levels = ["a: &a [x, x, x, x, x, x, x, x, x]"];
    for (let i = 1; i < 9; i++)
      levels.push(
        `${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9)
          .fill(`*${String.fromCharCode(96 + i)}`)
          .join(", ")}]`,
      );
    const { url } = await indexServer(
      `apiVersion: v1\nentries: {}\nannotations:\n${levels.map((l) => `  ${l}`).join("\n")}\n`,
    );
    const started = Date.now();
    const { status } = await reconcile({ url });
    expect(ready(status)).toMatchObject({ status: "False", reason: "IndexationFailed" });
    expect(ready(status)?.message).toContain("YAML aliases expand more than");
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("an index without end is cut off at the size bound (50 MiB) instead of filling memory", async () => {
    const chunk = Buffer.alloc(1 << 20, "#");
    const { url } = await serve((_req, res) => {
      res.writeHead(200);
      const pump = () => {
        while (res.write(chunk));
        res.once("drain", pump);
      };
      res.on("close", () => res.removeAllListeners("drain"));
      pump();
    });
    const { status } = await reconcile({ url });
    expect(ready(status)).toMatchObject({ status: "False", reason: "Failed" });
    expect(ready(status)?.message).toContain("index exceeds the maximum index file size of 52428800 bytes");
  });

  it("a redirect to the metadata service is refused, whatever allowPrivateNetworks says", async () => {
    const { url } = await serve(
      (_req, res) => void res.writeHead(302, { location: "http://169.254.169.254/latest/meta-data/" }).end(),
    );
    const { status } = await reconcile({ url });
    expect(ready(status)).toMatchObject({ status: "False", reason: "Failed" });
    expect(ready(status)?.message).toContain("169.254.169.254 is link-local/metadata and never fetched");
  });
});

describe("HelmRepository: type oci and refusals", () => {
  it("type oci has no artifact and nothing to fetch: Ready with Flux's message", async () => {
    const { status, events } = await reconcile({ type: "oci", url: "oci://127.0.0.1:1/charts" });
    expect(ready(status)).toMatchObject({ status: "True", reason: "Succeeded", message: "Helm repository is Ready" });
    expect(status.artifact).toBeUndefined();
    expect(events).toEqual([]);
  });

  it("an oci:// URL without type oci stalls as URLInvalid", async () => {
    const { status } = await reconcile({ url: "oci://127.0.0.1:1/charts" });
    expect(ready(status)).toMatchObject({
      status: "False",
      reason: "URLInvalid",
      message: "invalid Helm repository URL: 'oci' URL scheme cannot be used with 'default' HelmRepository type",
    });
    expect(status.conditions?.find((c) => c.type === "Stalled")?.status).toBe("True");
  });

  it("a cloud provider other than aws is refused by name", async () => {
    const { status } = await reconcile({
      type: "oci",
      url: "oci://europe-docker.pkg.dev/project/charts",
      provider: "gcp",
    });
    expect(ready(status)).toMatchObject({ status: "False", reason: "UnsupportedField" });
    expect(ready(status)?.message).toContain('spec.provider ("gcp"): Azure and Google registry authentication');
  });
});
