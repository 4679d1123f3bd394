import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { checkout, resolveRemoteRef, type GitRemote } from "../src/sources/git.js";
import { pushTree } from "../test/env/git-server.js";
import { createSshRepo } from "../test/env/sshd.js";
import { startTestbed, type Testbed } from "../test/env/testbed.js";
import { defineBenchmark, type Benchmark } from "./harness.js";

// Git over SSH against the test bed's sshd (Debian's OpenSSH on loopback, git-upload-pack), in one process:
// 1. A clone of a 600-file repository (one ~1 KiB manifest each, 10 commits of history): Sluice's checkout
//    (one SSH connection: advertisement, depth-1 fetch of the branch, tree written) vs
//    `git clone --depth 1 --single-branch` through OpenSSH's ssh client, with the same key and known_hosts
//    (GSSAPI off, as Debian's ssh_config would otherwise try it first).
// 2. The no-op check (the ref advertisement alone): resolveRemoteRef vs `git ls-remote`.

const run = promisify(execFile);
const FILES = 600;
let testbed: Testbed | undefined;

export async function cleanup(): Promise<void> {
  await testbed?.stop();
}

function manifests(commit: number): Record<string, string> {
  const files: Record<string, string> = {};
  for (let i = 0; i < FILES; i++)
    files[`apps/app-${Math.floor(i / 20)}/configmap-${i}.yaml`] = [
      "apiVersion: v1",
      "kind: ConfigMap",
      `metadata:\n  name: config-${i}\n  namespace: app-${Math.floor(i / 20)}`,
      "data:",
      `  commit: "${commit}"`,
      ...Array.from({ length: 20 }, (_, k) => `  key-${k}: "value ${k} of config ${i}, padded to a realistic size"`),
    ].join("\n");
  return files;
}

export default async function benchmarks(): Promise<Benchmark[]> {
  testbed = await startTestbed({ only: ["sshd"] });
  const sshd = testbed.info.sshd;
  const url = await createSshRepo(sshd, "fleet");
  for (let commit = 1; commit <= 10; commit++)
    await pushTree(sshd as unknown as Parameters<typeof pushTree>[0], "fleet", { files: manifests(commit) });
  const keys = await mkdtemp(join(tmpdir(), "sluice-bench-ssh-"));
  await writeFile(join(keys, "identity"), sshd.identity, { mode: 0o600 });
  await writeFile(join(keys, "known_hosts"), sshd.knownHosts);
  const env = {
    ...process.env,
    GIT_SSH_COMMAND: `ssh -i ${join(keys, "identity")} -o IdentitiesOnly=yes -o UserKnownHostsFile=${join(keys, "known_hosts")} -o StrictHostKeyChecking=yes -o BatchMode=yes -o GSSAPIAuthentication=no`,
  };
  const remote: GitRemote = {
    url,
    auth: { identity: sshd.identity, knownHosts: sshd.knownHosts },
    network: { allowPrivateNetworks: true },
    timeoutMs: 60_000,
  };
  const inFreshDir = async (clone: (dir: string) => Promise<unknown>) => {
    const dir = await mkdtemp(join(tmpdir(), "sluice-bench-clone-"));
    try {
      await clone(dir);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };
  return [
    defineBenchmark({
      name: `git-ssh-clone-${FILES}-files`,
      iterations: 10,
      subject: {
        name: "Sluice checkout over SSH: one connection, advertisement, depth-1 fetch, tree written",
        run: () => inFreshDir((dir) => checkout(remote, { branch: "main" }, dir)),
      },
      baseline: {
        name: "git clone --depth 1 --single-branch over OpenSSH's ssh",
        run: () =>
          inFreshDir((dir) =>
            run("git", ["clone", "--quiet", "--depth", "1", "--single-branch", "--branch", "main", url, dir], { env }),
          ),
      },
    }),
    defineBenchmark({
      name: "git-ssh-no-op-check",
      iterations: 20,
      subject: {
        name: "Sluice resolveRemoteRef over SSH (the advertisement alone)",
        run: async () => void (await resolveRemoteRef(remote, { branch: "main" })),
      },
      baseline: {
        name: "git ls-remote over OpenSSH's ssh",
        run: async () => void (await run("git", ["ls-remote", url, "refs/heads/main"], { env })),
      },
    }),
  ];
}
