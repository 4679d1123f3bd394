import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import semver from "semver";
import { dispatch } from "../src/controllers/dispatch.js";
import { OciClient } from "../src/sources/oci/client.js";
import { parseOciUrl } from "../src/sources/oci/reference.js";
import { cacheDir } from "../src/runtime/cache-dir.js";
import { applyToStore } from "../src/store/objects.js";
import { pushTags } from "../test/image/registry-tags.js";
import { startTestbed, type Testbed } from "../test/env/testbed.js";
import { sourceRuntime } from "../test/security/source-helpers.js";
import { defineBenchmark, type Benchmark } from "./harness.js";

// Image automation against the test bed's registry (Debian's CNCF distribution registry on loopback),
// a repository of 5,000 tags (releases, pre-releases, CI builds):
// 1. The scan: an ImageRepository reconcile (every tag listed in pages of 1,000, filtered, sorted,
//    stored in the artifact store, status written) vs the raw paginated HTTP listing in the same
//    process (fetch() following the Link headers, nothing checked or written); and the OCI client's paged
//    listing alone (bounded reads, the network guard) vs the same raw listing, to tell the two costs apart.
// 2. Policy evaluation: an ImagePolicy reconcile (the repository and its 5,000 stored tags read,
//    checked against the scan's revision, a semver range with pre-release rules applied, status
//    written) vs node-semver's maxSatisfying over the same tags in memory. The goal is ≤ 50 ms.
// 3. The scan against `crane ls` (google/go-containerregistry, the baseline issue 17 names; built by
//    test/env/build-crane.sh, benchmark only — skipped when absent), on loopback and through a proxy that
//    delays each request by RTT_MS, as a registry across a network does: on loopback a listing takes ~12 ms,
//    which magnifies the scan's fixed costs (the status and tag list written durably) beyond what users see.

const TAGS = 5_000;
const RTT_MS = 20;
const CRANE = join(cacheDir(), "crane", "v0.22.1", "crane");
const run = promisify(execFile);
const RANGE = ">=1.0.0-0 <3.0.0";
let testbed: Testbed | undefined;
let proxy: Server | undefined;

export async function cleanup(): Promise<void> {
  proxy?.close();
  await testbed?.stop();
}

/** A plain HTTP proxy to `target` that holds each request `delayMs` before passing it on (keep-alive kept). */
async function delayingProxy(target: string, delayMs: number): Promise<{ server: Server; host: string }> {
  const [hostname, port] = target.split(":");
  const server = createServer((incoming, outgoing) => {
    setTimeout(() => {
      const upstream = request(
        { hostname, port, path: incoming.url, method: incoming.method, headers: { ...incoming.headers, host: target } },
        (answer) => {
          outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(outgoing);
        },
      );
      upstream.on("error", () => outgoing.destroy());
      incoming.pipe(upstream);
    }, delayMs);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, host: `127.0.0.1:${(server.address() as AddressInfo).port}` };
}

function tags(): string[] {
  const list: string[] = [];
  for (let i = 0; list.length < TAGS; i++) {
    const [major, minor, patch] = [i % 3, Math.floor(i / 3) % 40, Math.floor(i / 120)];
    list.push(
      `${major}.${minor}.${patch}`,
      `${major}.${minor}.${patch}-rc.${i % 5}`,
      `main-${(i * 7919).toString(16).padStart(7, "0")}-${1_700_000_000 + i}`,
    );
  }
  return list.slice(0, TAGS);
}

export default async function benchmarks(): Promise<Benchmark[]> {
  testbed = await startTestbed({ only: ["registry"] });
  const { host } = testbed.info.registry;
  const all = tags();
  await pushTags(host, "bench/app", all);
  const { rt: ports } = await sourceRuntime({ allowPrivateNetworks: true });
  const ready = (status: unknown, what: string) => {
    const conditions = (status as { conditions?: { type: string; status: string; message: string }[] }).conditions;
    const condition = conditions?.find((c) => c.type === "Ready");
    if (condition?.status !== "True") throw new Error(`${what}: not Ready: ${condition?.message}`);
  };
  const delayed = await delayingProxy(host, RTT_MS);
  proxy = delayed.server;
  const repository = (name: string, registry = host) =>
    applyToStore(ports.store, {
      apiVersion: "image.toolkit.fluxcd.io/v1",
      kind: "ImageRepository",
      metadata: { name, namespace: "bench" },
      spec: { image: `${registry}/bench/app`, interval: "10m" },
    });
  // A new object per scan (registered beforehand, untimed): nothing scanned yet, so each lists.
  let serial = 0;
  const scans = 4 * 32;
  for (let i = 1; i <= scans; i++) await repository(`scan-${i}`);
  let remoteSerial = 0;
  for (let i = 1; i <= 32; i++) await repository(`remote-${i}`, delayed.host);
  await repository("app");
  ready((await dispatch(ports, { key: "ImageRepository/bench/app", reason: "interval" }))?.status, "app");
  await applyToStore(ports.store, {
    apiVersion: "image.toolkit.fluxcd.io/v1",
    kind: "ImagePolicy",
    metadata: { name: "app", namespace: "bench" },
    spec: { imageRepositoryRef: { name: "app" }, policy: { semver: { range: RANGE } } },
  });
  const expected = semver.maxSatisfying(all, RANGE, { includePrerelease: true });
  const rawListingOf = (registry: string) => ({
    name: "raw paginated listing (fetch, ?n=1000, following Link, nothing checked or written)",
    run: async () => {
      let next: string | undefined = `http://${registry}/v2/bench/app/tags/list?n=1000`;
      let count = 0;
      while (next) {
        const response: Response = await fetch(next);
        count += ((await response.json()) as { tags: string[] }).tags.length;
        const link = /<([^>]+)>/.exec(response.headers.get("link") ?? "")?.[1];
        next = link && new URL(link, `http://${registry}`).href;
      }
      return { tags: count };
    },
  });
  const rawListing = rawListingOf(host);
  const scan = (name: string) => async () => {
    const outcome = await dispatch(ports, { key: `ImageRepository/bench/${name}`, reason: "interval" });
    ready(outcome?.status, name);
    return { tags: (outcome?.status as { lastScanResult: { tagCount: number } }).lastScanResult.tagCount };
  };
  const scanSubject = {
    name: "ImageRepository reconcile: paged listing, exclusions, sort, store, status",
    run: () => scan(`scan-${++serial}`)(),
  };
  const craneLs = (registry: string) => ({
    name: "crane ls (a process: start, paged listing, tags printed)",
    run: async () => {
      const { stdout } = await run(CRANE, ["ls", "--insecure", `${registry}/bench/app`], { maxBuffer: 16 << 20 });
      const count = stdout.split("\n").filter(Boolean).length;
      if (count !== TAGS) throw new Error(`crane ls listed ${count} tags, not ${TAGS}`);
      return { tags: count };
    },
  });
  const ref = parseOciUrl(`oci://${host}/bench/app`);
  const againstCrane: Benchmark[] = existsSync(CRANE)
    ? [
        defineBenchmark({
          name: `image-scan-${TAGS}-tags-vs-crane`,
          iterations: 20,
          subject: scanSubject,
          baseline: craneLs(host),
        }),
        defineBenchmark({
          name: `image-scan-${TAGS}-tags-${RTT_MS}ms-vs-crane`,
          iterations: 10,
          warmup: 1,
          subject: { ...scanSubject, run: () => scan(`remote-${++remoteSerial}`)() },
          baseline: craneLs(delayed.host),
        }),
      ]
    : (console.error(`image bench: ${CRANE} not built (bash test/env/build-crane.sh); crane ls comparison skipped`),
      []);
  return [
    defineBenchmark({ name: `image-scan-${TAGS}-tags`, iterations: 20, subject: scanSubject, baseline: rawListing }),
    defineBenchmark({
      name: `image-scan-${TAGS}-tags-${RTT_MS}ms`,
      iterations: 10,
      warmup: 1,
      subject: { ...scanSubject, run: () => scan(`remote-${++remoteSerial}`)() },
      baseline: rawListingOf(delayed.host),
    }),
    ...againstCrane,
    defineBenchmark({
      name: `image-list-${TAGS}-tags`,
      iterations: 20,
      subject: {
        name: "the OCI client's paged listing alone (bounded reads, network guard)",
        run: async () => ({
          tags: (await new OciClient({ ref, network: { allowPrivateNetworks: true } }).tags({ pageSize: 1_000 }))
            .length,
        }),
      },
      baseline: rawListing,
    }),
    defineBenchmark({
      name: `image-policy-${TAGS}-tags`,
      iterations: 50,
      subject: {
        name: "ImagePolicy reconcile: stored tags read and checked, semver range picked, status written",
        run: async () => {
          const outcome = await dispatch(ports, { key: "ImagePolicy/bench/app", reason: "source" });
          ready(outcome?.status, "policy");
          const tag = (outcome?.status as { latestRef: { tag: string } }).latestRef.tag;
          if (tag !== expected) throw new Error(`picked ${tag}, node-semver picks ${expected}`);
        },
      },
      baseline: {
        name: "node-semver maxSatisfying over the tags in memory",
        run: async () => void semver.maxSatisfying(all, RANGE, { includePrerelease: true }),
      },
    }),
  ];
}
