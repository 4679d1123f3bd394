import { generateKeyPairSync } from "node:crypto";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { OCIRepository } from "../../src/api/ocirepository.js";
import { dispatch } from "../../src/controllers/dispatch.js";
import type { ReconcilerPorts } from "../../src/controllers/reconciler-ports.js";
import { readEvents } from "../../src/notify/file-events.js";
import { applyToStore } from "../../src/store/objects.js";
import { cosignImportKeyPair, cosignKeyPair, cosignSign, cosignVerify, type CosignKeyPair } from "../env/cosign.js";
import { pushOciArtifact, sha256, uploadBlob } from "../env/oci.js";
import { front, sourceRuntime } from "../security/source-helpers.js";

// OCIRepository `spec.verify` against artifacts signed by the real cosign (v3.0.6, the version
// source-controller v1.9.4 pins) in the test bed's registry: as a Sigstore bundle referrer (cosign v3's
// default) and as a cosign v2 `.sig` tag. The attacker's moves — no signature, another key, another
// digest's signature, a swapped signature, a key that is not one, a huge signature manifest — leave
// Ready=False and SourceVerified=False with Flux's reason, and nothing stored.

const { host } = inject("testbed").registry;
let ports: ReconcilerPorts;
let eventsFile: string;
let keys: CosignKeyPair;
let secretData: Record<string, string> = {};
let serial = 0;
const closers: (() => void)[] = [];

beforeAll(async () => {
  ({ rt: ports, eventsFile } = await sourceRuntime({ allowPrivateNetworks: true, strictStatus: true }));
  ports.secrets = {
    secret: async ({ namespace, name }) => (namespace === "apps" && name === "cosign-keys" ? secretData : undefined),
    configMap: async () => undefined,
  };
  keys = await cosignKeyPair();
});
afterAll(() => closers.forEach((close) => close()));

type Status = NonNullable<OCIRepository["status"]>;
const condition = (status: Status, type: string) => status.conditions?.find((c) => c.type === type);
const files = (text: string) => ({ "deploy/configmap.yaml": `kind: ConfigMap\ndata:\n  text: ${text}\n` });
const VERIFY = { provider: "cosign" as const, secretRef: { name: "cosign-keys" } };

async function reconcile(name: string, spec: Partial<OCIRepository["spec"]> = {}, generation = 1) {
  await applyToStore(ports.store, {
    apiVersion: "source.toolkit.fluxcd.io/v1",
    kind: "OCIRepository",
    metadata: { name, namespace: "apps", generation },
    spec: { interval: "5m", url: `oci://${host}/apps/${name}`, verify: VERIFY, ...spec },
  });
  const outcome = await dispatch(ports, { key: `OCIRepository/apps/${name}`, reason: "interval" });
  return outcome!.status as Status;
}

/** An artifact pushed as `apps/<name>:latest`, signed with `signer` unless it is undefined. */
async function signed(signer: CosignKeyPair | undefined, options: { legacy?: boolean; text?: string } = {}) {
  const name = `verify-${++serial}`;
  const digest = await pushOciArtifact(host, `apps/${name}`, "latest", files(options.text ?? name));
  const image = `${host}/apps/${name}@${digest}`;
  if (signer) await cosignSign(signer, image, options);
  return { name, digest, image };
}

/** Ready=False and SourceVerified=False with VerificationError and `message`, nothing stored, a warning event. */
async function expectRefused(name: string, status: Status, message: string | RegExp) {
  for (const type of ["Ready", "SourceVerified"]) {
    expect(condition(status, type)).toMatchObject({ status: "False", reason: "VerificationError" });
    expect(condition(status, type)?.message).toMatch(message);
  }
  expect(condition(status, "FetchFailed")).toBeUndefined();
  expect(status.artifact).toBeUndefined();
  const events = (await readEvents(eventsFile)).filter((e) => e.involvedObject.name === name);
  expect(events.map((e) => [e.severity, e.reason])).toEqual([["error", "VerificationError"]]);
}

const noMatch = (image: string) =>
  `failed to verify the signature using provider 'cosign': no matching signatures were found for '${image}'`;

describe("OCIRepository verify with cosign public keys", () => {
  it("accepts an artifact cosign v3 signed (a bundle referrer) and records the verification of its revision", async () => {
    // Prepare
    secretData = { "cosign.pub": keys.publicKey };
    const { name, digest, image } = await signed(keys);
    // Act
    const status = await reconcile(name);
    // Assess
    const revision = `latest@${digest}`;
    expect(await cosignVerify(keys, image)).toBe(true);
    expect(condition(status, "Ready")).toMatchObject({ status: "True", reason: "Succeeded" });
    expect(condition(status, "SourceVerified")).toMatchObject({
      status: "True",
      reason: "Succeeded",
      message: `verified signature of revision ${revision}`,
      observedGeneration: 1,
    });
    expect(status.artifact?.revision).toBe(revision);
  });

  it("accepts an artifact signed the cosign v2 way (a sha256-<hex>.sig tag)", async () => {
    secretData = { "cosign.pub": keys.publicKey };
    const { name, image } = await signed(keys, { legacy: true });
    const status = await reconcile(name);
    expect(await cosignVerify(keys, image)).toBe(true);
    expect(condition(status, "SourceVerified")?.status).toBe("True");
    expect(condition(status, "Ready")?.status).toBe("True");
  });

  it.each([
    ["RSA 2048", () => generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey, true],
    // cosign signs with SHA-384 and Ed25519ph for these, while `cosign verify --key` and Flux (LoadVerifier(key,
    // SHA-256)) verify with SHA-256 and pure Ed25519: the reference refuses its own signatures, and so does Sluice.
    ["ECDSA P-384", () => generateKeyPairSync("ec", { namedCurve: "P-384" }).privateKey, false],
    ["Ed25519", () => generateKeyPairSync("ed25519").privateKey, false],
  ])("an imported %s key: both layouts verified as cosign verify --key verifies them", async (_, privateKey, valid) => {
    const imported = await cosignImportKeyPair(privateKey().export({ type: "pkcs8", format: "pem" }).toString());
    secretData = { "cosign.pub": imported.publicKey };
    for (const legacy of [false, true]) {
      const { name, image } = await signed(imported, { legacy });
      const status = await reconcile(name);
      expect(await cosignVerify(imported, image)).toBe(valid);
      if (valid) expect(condition(status, "SourceVerified")?.status).toBe("True");
      else await expectRefused(name, status, noMatch(image));
    }
  });

  it("reads bundles through the referrers API where the registry has one (OCI distribution 1.1)", async () => {
    // Prepare: a front that serves the referrers API from the registry's referrers tag, and hides that tag
    secretData = { "cosign.pub": keys.publicKey };
    const { name, digest } = await signed(keys);
    const tag = digest.replace(":", "-");
    const seen: string[] = [];
    const v11 = await front(`http://${host}`, (req, res) => {
      seen.push(req.url ?? "");
      if (req.url?.endsWith(`/manifests/${tag}`)) return (void res.writeHead(404).end(), true);
      if (!req.url?.endsWith(`/referrers/${digest}`)) return false;
      void fetch(`http://${host}/v2/apps/${name}/manifests/${tag}`, {
        headers: { accept: "application/vnd.oci.image.index.v1+json" },
      }).then(async (index) =>
        res
          .writeHead(200, { "content-type": "application/vnd.oci.image.index.v1+json" })
          .end(Buffer.from(await index.arrayBuffer())),
      );
      return true;
    });
    closers.push(v11.close);
    // Act
    const status = await reconcile(name, { url: `oci://127.0.0.1:${v11.port}/apps/${name}` });
    // Assess
    expect(condition(status, "SourceVerified")?.status).toBe("True");
    expect(seen.filter((path) => path.includes("/referrers/") || path.includes(tag))).toEqual([
      `/v2/apps/${name}/referrers/${digest}`,
    ]);
  });

  it("verifies once per revision and generation: a no-op check is one HEAD, a new generation verifies again", async () => {
    // Prepare: the registry behind a counting front
    secretData = { "cosign.pub": keys.publicKey };
    const { name } = await signed(keys);
    const counted = await front(`http://${host}`);
    closers.push(counted.close);
    const spec = { url: `oci://127.0.0.1:${counted.port}/apps/${name}` };
    const first = await reconcile(name, spec);
    // Act
    const before = counted.requests();
    const again = await reconcile(name, spec);
    const noOp = counted.requests() - before;
    const regenerated = await reconcile(name, { ...spec, timeout: "50s" }, 2); // a spec change: a new generation
    // Assess
    expect(condition(first, "SourceVerified")?.status).toBe("True");
    expect(noOp).toBe(1);
    expect(condition(again, "SourceVerified")).toEqual(condition(first, "SourceVerified"));
    expect(counted.requests() - before - noOp).toBeGreaterThan(1);
    expect(condition(regenerated, "SourceVerified")).toMatchObject({ status: "True", observedGeneration: 2 });
  });

  it("refuses an unsigned artifact and one signed with another key, storing nothing", async () => {
    secretData = { "cosign.pub": keys.publicKey };
    const stranger = await cosignKeyPair();
    const unsigned = await signed(undefined);
    const foreign = await signed(stranger);
    expect(await cosignVerify(keys, foreign.image)).toBe(false);
    await expectRefused(unsigned.name, await reconcile(unsigned.name), noMatch(unsigned.image));
    await expectRefused(foreign.name, await reconcile(foreign.name), noMatch(foreign.image));
  });

  it("accepts a signature by any one of the Secret's *.pub keys, and ignores entries that are not *.pub", async () => {
    const stranger = await cosignKeyPair();
    secretData = { "a.pub": stranger.publicKey, "b.pub": keys.publicKey, "notes.txt": "not a key" };
    const { name } = await signed(keys, { legacy: true });
    expect(condition(await reconcile(name), "SourceVerified")?.status).toBe("True");
  });

  it("refuses a valid signature of another digest moved onto this artifact's signature tag (v2 and v3 layouts)", async () => {
    secretData = { "cosign.pub": keys.publicKey };
    for (const legacy of [true, false]) {
      // Prepare: a signed artifact, and its signature manifest copied under the tag of an unsigned one
      const genuine = await signed(keys, { legacy });
      const target = await signed(undefined);
      const tag = (digest: string) => `${digest.replace(":", "-")}${legacy ? ".sig" : ""}`;
      const source = `http://${host}/v2/apps/${genuine.name}/manifests/${tag(genuine.digest)}`;
      const manifest = await fetch(source, {
        headers: { accept: "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json" },
      });
      const body = Buffer.from(await manifest.arrayBuffer());
      await copyBlobs(genuine.name, target.name, body);
      const put = await fetch(`http://${host}/v2/apps/${target.name}/manifests/${tag(target.digest)}`, {
        method: "PUT",
        headers: { "content-type": manifest.headers.get("content-type")! },
        body,
      });
      expect(put.status).toBe(201);
      // Act
      const status = await reconcile(target.name);
      // Assess: the reference implementation refuses it too
      expect(await cosignVerify(keys, target.image)).toBe(false);
      await expectRefused(target.name, status, noMatch(target.image));
    }
  });

  it("refuses a signature swapped onto another payload (v2 layout)", async () => {
    // Prepare: the .sig manifest of one artifact, its signature annotation replaced by another artifact's
    secretData = { "cosign.pub": keys.publicKey };
    const first = await signed(keys, { legacy: true });
    const second = await signed(keys, { legacy: true });
    const sigOf = async (artifact: { name: string; digest: string }) => {
      const url = `http://${host}/v2/apps/${artifact.name}/manifests/${artifact.digest.replace(":", "-")}.sig`;
      const response = await fetch(url, { headers: { accept: "application/vnd.oci.image.manifest.v1+json" } });
      return { url, manifest: (await response.json()) as { layers: { annotations: Record<string, string> }[] } };
    };
    const victim = await sigOf(first);
    const other = await sigOf(second);
    const annotation = "dev.cosignproject.cosign/signature";
    victim.manifest.layers[0]!.annotations[annotation] = other.manifest.layers[0]!.annotations[annotation]!;
    const put = await fetch(victim.url, {
      method: "PUT",
      headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" },
      body: JSON.stringify(victim.manifest),
    });
    expect(put.status).toBe(201);
    // Act, Assess
    expect(await cosignVerify(keys, first.image)).toBe(false);
    await expectRefused(first.name, await reconcile(first.name), noMatch(first.image));
  });

  it("refuses a Secret entry that is not a public key, naming it; and a missing Secret", async () => {
    const { name } = await signed(keys);
    secretData = {
      "cosign.pub": keys.publicKey,
      "z.pub": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    };
    await expectRefused(name, await reconcile(name), /'z\.pub' in secret 'apps\/cosign-keys' is not a public key/);
    const other = await signed(keys);
    const dsa = generateKeyPairSync("dsa", { modulusLength: 2048, divisorLength: 256 }).publicKey;
    secretData = { "cosign.pub": dsa.export({ type: "spki", format: "pem" }).toString() };
    await expectRefused(other.name, await reconcile(other.name), /unsupported public key type dsa/);
    const missing = await signed(keys);
    await expectRefused(
      missing.name,
      await reconcile(missing.name, { verify: { provider: "cosign", secretRef: { name: "absent" } } }),
      "failed to verify the signature using provider 'cosign': failed to get secret 'apps/absent': secret not found",
    );
  });

  it("refuses a signature manifest over the 4 MiB limit", async () => {
    secretData = { "cosign.pub": keys.publicKey };
    const { name, digest } = await signed(undefined);
    const huge = Buffer.alloc(6 << 20, " ");
    const hostile = await front(`http://${host}`, (req, res) => {
      if (!req.url?.includes(`${digest.replace(":", "-")}.sig`)) return false;
      res.writeHead(200, { "content-type": "application/vnd.oci.image.manifest.v1+json" }).end(huge);
      return true;
    });
    closers.push(hostile.close);
    const status = await reconcile(name, { url: `oci://127.0.0.1:${hostile.port}/apps/${name}` });
    await expectRefused(name, status, /exceeds 4194304 bytes: refused$/);
  });

  it("refuses a signature manifest of more than cosign's 1,000 layers", async () => {
    secretData = { "cosign.pub": keys.publicKey };
    const { name, digest } = await signed(undefined);
    const payload = Buffer.from("{}");
    const layer = {
      mediaType: "application/vnd.dev.cosign.simplesigning.v1+json",
      digest: await uploadBlob(`http://${host}/v2/apps/${name}`, payload),
      size: payload.length,
      annotations: { "dev.cosignproject.cosign/signature": "MEUCIQ==" },
    };
    const manifest = {
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: layer.digest, size: payload.length },
      layers: Array.from({ length: 1001 }, () => layer),
    };
    const put = await fetch(`http://${host}/v2/apps/${name}/manifests/${digest.replace(":", "-")}.sig`, {
      method: "PUT",
      headers: { "content-type": manifest.mediaType },
      body: JSON.stringify(manifest),
    });
    expect(put.status).toBe(201);
    const status = await reconcile(name);
    await expectRefused(name, status, `the signature manifest of ${digest} has 1001 layers, over 1000`);
  });

  it("keeps the verified artifact when the tag moves to an unsigned one, and says the new revision is not stored", async () => {
    secretData = { "cosign.pub": keys.publicKey };
    const { name, digest } = await signed(keys);
    const first = await reconcile(name);
    const moved = await pushOciArtifact(host, `apps/${name}`, "latest", files("unsigned"));
    const status = await reconcile(name);
    expect(first.artifact?.revision).toBe(`latest@${digest}`);
    expect(status.artifact).toEqual(first.artifact);
    expect(condition(status, "SourceVerified")).toMatchObject({ status: "False", reason: "VerificationError" });
    expect(condition(status, "ArtifactOutdated")?.message).toBe(
      `new revision 'latest@${moved}' for 'oci://${host}/apps/${name}'`,
    );
    // Signing it afterwards is picked up at the next reconcile: a failed verification is retried.
    await cosignSign(keys, `${host}/apps/${name}@${moved}`);
    const retried = await reconcile(name);
    expect(condition(retried, "SourceVerified")?.status).toBe("True");
    expect(retried.artifact?.revision).toBe(`latest@${moved}`);
  });
});

/** Copies the blobs a manifest (or index) names from one repository to another (cross-repository mount). */
async function copyBlobs(from: string, to: string, manifest: Buffer) {
  const parsed = JSON.parse(manifest.toString()) as {
    config?: { digest: string };
    layers?: { digest: string }[];
    manifests?: { digest: string }[];
  };
  for (const { digest } of [...(parsed.layers ?? []), ...(parsed.config ? [parsed.config] : [])]) {
    const mounted = await fetch(`http://${host}/v2/apps/${to}/blobs/uploads/?mount=${digest}&from=apps/${from}`, {
      method: "POST",
    });
    expect(mounted.status).toBe(201);
  }
  for (const { digest } of parsed.manifests ?? []) {
    // A referrers index names manifests: copy each (and its blobs) by digest.
    const accept = { accept: "application/vnd.oci.image.manifest.v1+json" };
    const child = await fetch(`http://${host}/v2/apps/${from}/manifests/${digest}`, { headers: accept });
    const body = Buffer.from(await child.arrayBuffer());
    expect(sha256(body)).toBe(digest);
    await copyBlobs(from, to, body);
    const put = await fetch(`http://${host}/v2/apps/${to}/manifests/${digest}`, {
      method: "PUT",
      headers: { "content-type": child.headers.get("content-type")! },
      body,
    });
    expect(put.status).toBe(201);
  }
}
