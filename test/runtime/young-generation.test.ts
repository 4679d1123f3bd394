import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);
const tsx = join(process.cwd(), "node_modules", ".bin", "tsx");
const module = JSON.stringify(new URL("../../src/runtime/young-generation.ts", import.meta.url).pathname);

/**
 * The largest new space (MiB) a fresh process reached while allocating short-lived objects, some kept a while (as
 * a reconcile's JSON is), with the cap of `maxMiB` or none. A process of its own: V8's flags are process-wide. The
 * work comes in small synchronous chunks with an event-loop turn between them, as a server's does, and the cap is
 * checked every millisecond: the cap acts between turns (a single synchronous stretch long enough for several
 * scavenges can still double the space more than once, which is what failed a CI run of an earlier version).
 */
async function largestNewSpace(maxMiB: number | undefined): Promise<number> {
  const script = `import { getHeapSpaceStatistics } from "node:v8";
    import { capYoungGeneration } from ${module};
    ${maxMiB === undefined ? "" : `capYoungGeneration(${maxMiB}, 1);`}
    let largest = 0, kept = [];
    for (let chunk = 0; chunk < 1500; chunk++) {
      for (let i = 0; i < 5000; i++) { const o = { i, list: [i] }; if (i % 50 === 0) kept.push(o); if (kept.length > 40000) kept = []; }
      const size = getHeapSpaceStatistics().find((s) => s.space_name === "new_space").space_size;
      largest = Math.max(largest, size);
      await new Promise((r) => setTimeout(r, 1));
    }
    console.log(largest / 1048576);`;
  const { stdout } = await run(tsx, ["--input-type=module", "-e", script]);
  return Number(stdout.trim());
}

describe("young generation cap of sluice run", () => {
  it("keeps V8's new space at the cap while the same allocations grow it past the cap without one", async () => {
    // Act
    const [uncapped, capped] = await Promise.all([largestNewSpace(undefined), largestNewSpace(8)]);
    // Assess
    // Uncapped, V8 doubles the space to 32 MiB here. Capped at 8, it never doubles again (to 16), though V8 counts the
    // capacity plus, at times, pages more (CI runs read 8.25, and 9.25 on a loaded machine).
    expect(uncapped).toBeGreaterThanOrEqual(16);
    expect(capped).toBeLessThan(12);
    expect(capped).toBeGreaterThan(0);
  });

  it("never lets a cap below V8's starting size grow the space", async () => {
    // Act
    const capped = await largestNewSpace(0.5);
    // Assess: the space stays at whatever V8 started with (at most a few MiB), never doubling.
    expect(capped).toBeLessThanOrEqual(8);
  });
});
