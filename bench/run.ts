import { readdir } from "node:fs/promises";
import { basename, join } from "node:path";
import { formatTable, runBenchmark, saveResult, type Benchmark, type BenchmarkResult } from "./harness.js";

// `npm run bench [-- name…]`: runs bench/<name>.bench.ts (all when none named), one at a time,
// progress on stderr, the combined table on stdout, JSON per benchmark in bench/results/.

const here = import.meta.dirname;
// Numeric arguments are sizes for benchmarks that take them (e.g. `fleet 100 500`), not names.
const wanted = process.argv.slice(2).filter((a) => !/^\d+$/.test(a));
const files = (await readdir(here))
  .filter((f) => f.endsWith(".bench.ts"))
  .filter((f) => wanted.length === 0 || wanted.includes(basename(f, ".bench.ts")));
if (files.length === 0) {
  console.error(
    `no benchmark matches ${wanted.join(", ")}; have: ${(await readdir(here)).filter((f) => f.endsWith(".bench.ts")).join(", ")}`,
  );
  process.exit(2);
}
const results: BenchmarkResult[] = [];
for (const file of files) {
  // A file default-exports its benchmarks (or a function making them) and may export cleanup().
  const module = (await import(join(here, file))) as {
    default: Benchmark[] | (() => Promise<Benchmark[]>);
    cleanup?: () => Promise<void>;
  };
  try {
    const benchmarks = typeof module.default === "function" ? await module.default() : module.default;
    for (const benchmark of benchmarks) {
      const result = await runBenchmark(benchmark, (line) => process.stderr.write(`\r\x1b[K► ${line}`));
      process.stderr.write(
        `\r\x1b[K✔ ${benchmark.name}: ${result.subject.ms.median.toFixed(1)} ms vs ${result.baseline.ms.median.toFixed(1)} ms (${result.ratio.toFixed(2)}×)\n`,
      );
      await saveResult(join(here, "results"), result);
      results.push(result);
    }
  } finally {
    await module.cleanup?.();
  }
}
console.log(formatTable(results));
