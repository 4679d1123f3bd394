import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ratio, summarize, type Summary } from "./stats.js";

/** Extra numbers a run may report (request counts, objects, …); summarized like the times. */
export type Metrics = Record<string, number>;

/** One side of a comparison: what is timed. */
export interface Side {
  name: string;
  run: () => Promise<Metrics | void>;
  /** Runs before each run, untimed (e.g. a new commit for it to fetch). */
  prepare?: () => Promise<void>;
}

/** A subject measured against a baseline in the same process, alternating so noise hits both. */
export interface Benchmark {
  name: string;
  subject: Side;
  baseline: Side;
  /** Runs once before the first iteration (not timed). */
  setup?: () => Promise<void>;
  /** Runs once after the last iteration (not timed). */
  teardown?: () => Promise<void>;
  /** @default 10 */
  iterations?: number;
  /** Untimed rounds first (JIT, caches). @default 2 */
  warmup?: number;
}

export interface SideResult {
  name: string;
  ms: Summary;
  metrics: Record<string, Summary>;
}

export interface BenchmarkResult {
  name: string;
  subject: SideResult;
  baseline: SideResult;
  /** subject ÷ baseline, medians. */
  ratio: number;
  /** Peak resident set size of this process during the benchmark (MiB). */
  peakRssMiB: number;
}

/** Identity function that gives a benchmark file its types. */
export function defineBenchmark(benchmark: Benchmark): Benchmark {
  return benchmark;
}

/** Runs warm-up then iterations, alternating baseline and subject; reports progress per iteration. */
export async function runBenchmark(
  b: Benchmark,
  progress: (line: string) => void = () => {},
): Promise<BenchmarkResult> {
  const iterations = b.iterations ?? 10;
  const warmup = b.warmup ?? 2;
  const samples = { subject: [] as number[], baseline: [] as number[] };
  const metrics = { subject: [] as Metrics[], baseline: [] as Metrics[] };
  let peakRss = process.memoryUsage().rss;
  await b.setup?.();
  try {
    for (let i = 0; i < warmup + iterations; i++) {
      const timed = i >= warmup;
      progress(`${b.name}: ${timed ? `iteration ${i - warmup + 1}/${iterations}` : `warm-up ${i + 1}/${warmup}`}`);
      // Alternate which side goes first, so neither always runs on a warmer machine.
      const order = i % 2 === 0 ? (["baseline", "subject"] as const) : (["subject", "baseline"] as const);
      for (const side of order) {
        await b[side].prepare?.();
        const start = performance.now();
        const reported = await b[side].run();
        const elapsed = performance.now() - start;
        peakRss = Math.max(peakRss, process.memoryUsage().rss);
        if (timed) {
          samples[side].push(elapsed);
          metrics[side].push(reported ?? {});
        }
      }
    }
  } finally {
    await b.teardown?.();
  }
  const side = (which: "subject" | "baseline"): SideResult => ({
    name: b[which].name,
    ms: summarize(samples[which]),
    metrics: summarizeMetrics(metrics[which]),
  });
  const subject = side("subject");
  const baseline = side("baseline");
  return {
    name: b.name,
    subject,
    baseline,
    ratio: ratio(subject.ms, baseline.ms),
    peakRssMiB: Math.round(peakRss / 1024 / 1024),
  };
}

function summarizeMetrics(runs: Metrics[]): Record<string, Summary> {
  const keys = [...new Set(runs.flatMap((r) => Object.keys(r)))];
  return Object.fromEntries(keys.map((k) => [k, summarize(runs.map((r) => r[k] ?? 0))]));
}

/** A markdown table of results, for the README. */
export function formatTable(results: BenchmarkResult[]): string {
  const rows = [
    "| benchmark | side | median ms | min | max | ratio | metrics (median) |",
    "|---|---|---:|---:|---:|---:|---|",
  ];
  for (const r of results) {
    for (const s of [r.subject, r.baseline]) {
      const isSubject = s === r.subject;
      const extra = Object.entries(s.metrics)
        .map(([k, v]) => `${k} ${round(v.median)}`)
        .join(", ");
      rows.push(
        `| ${isSubject ? r.name : ""} | ${s.name} | ${round(s.ms.median)} | ${round(s.ms.min)} | ${round(s.ms.max)} | ${isSubject ? `${r.ratio.toFixed(2)}×` : ""} | ${extra} |`,
      );
    }
  }
  return rows.join("\n");
}

/** Writes `bench/results/<name>.json`. */
export async function saveResult(dir: string, result: BenchmarkResult): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, `${result.name}.json`), `${JSON.stringify(result, null, 2)}\n`);
}

function round(n: number): string {
  return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2);
}
