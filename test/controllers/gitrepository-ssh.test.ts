import { randomBytes } from "node:crypto";
import { describe, expect, inject, it } from "vitest";
import { stringify } from "yaml";
import type { KubeObject } from "../../src/apply/object.js";
import { getObject } from "../../src/apply/objects-api.js";
import { applyToStore } from "../../src/store/objects.js";
import { configMap } from "../apply/helpers.js";
import { pushTree } from "../env/git-server.js";
import { createSshRepo } from "../env/sshd.js";
import { planeSuite, ready, storedStatus, until } from "./helpers.js";
import { sshKeyPair } from "../env/ssh-keys.js";

const { kube, git, sshd } = inject("testbed");
const local = planeSuite(kube, git, { namespace: "git-ssh", settings: { allowPrivateNetworks: true } });
const ns = () => local.namespace;
const repos = { root: sshd.root } as Parameters<typeof pushTree>[0];
let serial = 0;

async function secret(name: string, stringData: Record<string, string>): Promise<void> {
  await local.admin.client.send({
    method: "POST",
    path: `/api/v1/namespaces/${ns()}/secrets`,
    body: { metadata: { name }, stringData },
  });
}

/** A repository on the test bed's sshd with `files`, and its GitRepository in the Store. */
async function sshSource(files: Record<string, string>, secretRef?: string): Promise<{ name: string; sha: string }> {
  const name = `ssh-${serial++}`;
  const repo = `${ns()}-${name}-${randomBytes(2).toString("hex")}`;
  const url = await createSshRepo(sshd, repo);
  const sha = await pushTree(repos, repo, { files });
  await applyToStore(local.plane.runtime.store, {
    apiVersion: "source.toolkit.fluxcd.io/v1",
    kind: "GitRepository",
    metadata: { name, namespace: ns() },
    spec: { interval: "1m", url, ref: { branch: "main" }, ...(secretRef ? { secretRef: { name: secretRef } } : {}) },
  });
  return { name, sha };
}

const statusOf = (kind: string, name: string) => storedStatus(local.plane, kind, ns(), name);
const untilReason = (kind: string, name: string, reason: string) =>
  until(`${kind} ${name} Ready reason ${reason}`, async () => {
    const status = await statusOf(kind, name);
    return ready(status)?.reason === reason && status;
  });

describe(`GitRepository over SSH (${sshd.version}) → Kustomization → kube-apiserver ${kube.version}`, () => {
  it("applies what a Kustomization reads from a repository cloned over SSH with a Flux-style secret", async () => {
    // Prepare: the keys flux create secret git writes (identity, identity.pub, known_hosts).
    await secret("ssh-auth", {
      identity: sshd.identity,
      "identity.pub": sshd.identityPub,
      known_hosts: sshd.knownHosts,
    });
    const app = configMap("over-ssh", { transport: "ssh" }) as KubeObject;
    const source = await sshSource({ "deploy/app.yaml": stringify(app) }, "ssh-auth");
    // Act
    await applyToStore(local.plane.runtime.store, {
      apiVersion: "kustomize.toolkit.fluxcd.io/v1",
      kind: "Kustomization",
      metadata: { name: "over-ssh", namespace: ns() },
      spec: {
        interval: "10m",
        path: "./deploy",
        prune: true,
        targetNamespace: ns(),
        sourceRef: { kind: "GitRepository", name: source.name },
      },
    });
    const applied = await untilReason("Kustomization", "over-ssh", "ReconciliationSucceeded");
    // Assert
    expect(ready(await statusOf("GitRepository", source.name))).toMatchObject({
      status: "True",
      message: `stored artifact for revision 'main@sha1:${source.sha}'`,
    });
    expect(applied.lastAppliedRevision).toBe(`main@sha1:${source.sha}`);
    const live = await getObject(local.admin, (await local.admin.discovery.find("v1", "ConfigMap"))!, ns(), "over-ssh");
    expect(live?.data).toEqual({ transport: "ssh" });
  });

  it("a wrong host key fails the GitRepository as Flux does: GitOperationFailed, FetchFailed, the message says key mismatch", async () => {
    // Prepare
    const stranger = sshKeyPair("ed25519").public.split(" ").slice(0, 2).join(" ");
    await secret("wrong-host", { identity: sshd.identity, known_hosts: `[127.0.0.1]:${sshd.port} ${stranger}\n` });
    const source = await sshSource({ "deploy/app.yaml": stringify(configMap("never", {})) }, "wrong-host");
    // Act
    const status = await untilReason("GitRepository", source.name, "GitOperationFailed");
    // Assert
    expect(ready(status)?.status).toBe("False");
    expect(ready(status)?.message).toMatch(
      /^failed to list refs of ssh:\/\/127\.0\.0\.1:\d+\/.*: ssh: handshake failed: knownhosts: key mismatch$/,
    );
    expect(status.conditions?.find((c) => c.type === "FetchFailed")).toMatchObject({ reason: "GitOperationFailed" });
  });

  it("a secret without known_hosts, no secretRef at all, or an encrypted identity without password: AuthenticationFailed with Flux's messages", async () => {
    // Prepare
    await secret("no-known-hosts", { identity: sshd.identity });
    const encrypted = sshKeyPair("ed25519", { passphrase: "p", cipher: "aes256-ctr", rounds: 2 });
    await secret("locked", { identity: encrypted.private, known_hosts: sshd.knownHosts });
    const files = { "deploy/app.yaml": stringify(configMap("never", {})) };
    const [noKnownHosts, noSecret, locked] = [
      await sshSource(files, "no-known-hosts"),
      await sshSource(files),
      await sshSource(files, "locked"),
    ];
    // Act
    const messages = await Promise.all(
      [noKnownHosts, noSecret, locked].map(
        async ({ name }) => ready(await untilReason("GitRepository", name, "AuthenticationFailed"))?.message,
      ),
    );
    // Assert
    expect(messages).toEqual([
      "failed to configure authentication options: invalid 'ssh' auth option: 'known_hosts' is required",
      "failed to configure authentication options: invalid 'ssh' auth option: 'identity' is required",
      `SSH identity key is encrypted but no 'password' field was provided in the secret '${ns()}/locked'`,
    ]);
  });
});
