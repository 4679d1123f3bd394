import semver from "semver";
import { dispatch } from "../src/controllers/dispatch.js";
import { OciClient } from "../src/sources/oci/client.js";
import { parseOciUrl } from "../src/sources/oci/reference.js";
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

const TAGS = 5_000;
const RANGE = ">=1.0.0-0 <3.0.0";
let testbed: Testbed | undefined;

export async function cleanup(): Promise<void> {
  await testbed?.stop();
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
  const repository = (name: string) =>
    applyToStore(ports.store, {
      apiVersion: "image.toolkit.fluxcd.io/v1",
      kind: "ImageRepository",
      metadata: { name, namespace: "bench" },
      spec: { image: `${host}/bench/app`, interval: "10m" },
    });
  let serial = 0;
  for (let i = 1; i <= 30; i++) await repository(`scan-${i}`);
  await repository("app");
  ready((await dispatch(ports, { key: "ImageRepository/bench/app", reason: "interval" }))?.status, "app");
  await applyToStore(ports.store, {
    apiVersion: "image.toolkit.fluxcd.io/v1",
    kind: "ImagePolicy",
    metadata: { name: "app", namespace: "bench" },
    spec: { imageRepositoryRef: { name: "app" }, policy: { semver: { range: RANGE } } },
  });
  const expected = semver.maxSatisfying(all, RANGE, { includePrerelease: true });
  const rawListing = {
    name: "raw paginated listing (fetch, ?n=1000, following Link, nothing checked or written)",
    run: async () => {
      let next: string | undefined = `http://${host}/v2/bench/app/tags/list?n=1000`;
      let count = 0;
      while (next) {
        const response: Response = await fetch(next);
        count += ((await response.json()) as { tags: string[] }).tags.length;
        const link = /<([^>]+)>/.exec(response.headers.get("link") ?? "")?.[1];
        next = link && new URL(link, `http://${host}`).href;
      }
      return { tags: count };
    },
  };
  const ref = parseOciUrl(`oci://${host}/bench/app`);
  return [
    defineBenchmark({
      name: `image-scan-${TAGS}-tags`,
      iterations: 20,
      subject: {
        name: "ImageRepository reconcile: paged listing, exclusions, sort, store, status",
        // A new object each time (registered beforehand, untimed): nothing scanned yet, so it lists.
        run: async () => {
          const outcome = await dispatch(ports, { key: `ImageRepository/bench/scan-${++serial}`, reason: "interval" });
          ready(outcome?.status, `scan-${serial}`);
          return { tags: (outcome?.status as { lastScanResult: { tagCount: number } }).lastScanResult.tagCount };
        },
      },
      baseline: rawListing,
    }),
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
