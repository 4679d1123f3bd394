import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startTestbed } from "../test/env/testbed.js";
import { measureAwsCosts } from "./aws-cost-measure.js";
import {
  ASSUMPTIONS,
  DEFAULT_FLEET,
  FLEET_FLAGS,
  fleetFromFlags,
  FUNCTION_MEMORY_MB,
  fluxFootprint,
  monthlyCost,
  total,
  WORKER_OPERATIONS,
  type Fleet,
  type LineItem,
  type Measured,
  type OperationCost,
} from "./aws-cost-model.js";
import { prices, PRICES_READ_ON } from "./aws-prices.js";

// What Sluice costs a month on AWS (us-east-1), next to the smallest always-on capacity for Flux's controllers.
//   npx tsx bench/aws-cost.ts                      the README scenarios, from bench/results/aws-cost.json
//   npx tsx bench/aws-cost.ts --kustomizations 250 --git-repositories 10 --interval 5m --pushes-per-day 40
//   npx tsx bench/aws-cost.ts --measure            measure first (moto, kube-apiserver, Git server, Helm repository; ~90 s)
// A script, not a `sluice` command: measuring needs the test bed, and the price table is a dated reading.

const RESULTS = join(import.meta.dirname, "results", "aws-cost.json");
const { values } = parseArgs({
  options: {
    measure: { type: "boolean", default: false },
    iterations: { type: "string", default: "5" },
    kustomizations: { type: "string" },
    "git-repositories": { type: "string" },
    "helm-releases": { type: "string" },
    "helm-repositories": { type: "string" },
    interval: { type: "string" },
    "pushes-per-day": { type: "string" },
    secrets: { type: "string" },
    "cold-starts-per-day": { type: "string" },
    "batch-size": { type: "string" },
    "duration-factor": { type: "string" },
  },
});

const fleetFlags = FLEET_FLAGS.filter((flag) => values[flag] !== undefined);

const usd = (n: number) =>
  n >= 100 ? `$${n.toFixed(0)}` : n >= 0.01 || n === 0 ? `$${n.toFixed(2)}` : `$${n.toFixed(4)}`;
const qty = (n: number) => (n >= 1000 ? Math.round(n).toLocaleString("en-US") : n.toFixed(n % 1 === 0 ? 0 : 2));

function table(header: string[], rows: string[][]): string {
  const lines = [header, header.map(() => "---"), ...rows].map((r) => `| ${r.join(" | ")} |`);
  return lines.join("\n");
}

function requestsText(cost: OperationCost): string {
  return Object.entries(cost.requests)
    .map(([name, n]) => `${name} ${Number.isInteger(n) ? n : n.toFixed(2)}`)
    .join(", ");
}

function measuredTable(m: Measured): string {
  const row = (name: string, cost: OperationCost, memoryMb: number) => [
    name,
    cost.ms.toFixed(1),
    ((Math.ceil(cost.ms) * memoryMb) / 1024 / 1000).toFixed(4),
    requestsText(cost) || "none",
    (cost.logBytes / 1024).toFixed(1),
  ];
  const names: Record<(typeof WORKER_OPERATIONS)[number], string> = {
    gitNoop: "worker: GitRepository, no-op fetch",
    gitNewCommit: "worker: GitRepository, new commit",
    kustomizationNoop: "worker: Kustomization, no-op interval",
    kustomizationApply: "worker: Kustomization, apply of a change",
    helmRepositoryNoop: "worker: HelmRepository, no-op interval",
    helmChartNoop: "worker: HelmChart, no-op interval",
    helmReleaseNoop: "worker: HelmRelease, no-op interval",
  };
  return table(
    ["operation", "ms (median)", "GB-s", "AWS requests (mean per operation)", "log KiB"],
    [
      ...WORKER_OPERATIONS.map((op) => row(names[op], m.worker[op], FUNCTION_MEMORY_MB.worker)),
      row("tick: scheduled, nothing due", m.tickIdle, FUNCTION_MEMORY_MB.tick),
      row("tick: per due request (S3 due index)", m.tickPerDue, FUNCTION_MEMORY_MB.tick),
      row("tick: per delayed requeue forwarded", m.tickPerDelayed, FUNCTION_MEMORY_MB.tick),
      row("webhook: one delivery", m.webhook, FUNCTION_MEMORY_MB.webhook),
    ],
  );
}

function itemsTable(items: LineItem[]): string {
  return table(
    ["service", "item", "quantity a month", "price", "a month"],
    items
      .filter((i) => i.quantity > 0)
      .map((i) => [
        i.service,
        i.item,
        qty(i.quantity),
        `$${i.price.usd.toPrecision(3)} / ${i.price.unit}${i.price.assumption ? " (assumption)" : ""}`,
        usd(i.monthlyUsd),
      ]),
  );
}

const SCENARIOS: [string, Fleet][] = [
  ["100 Kustomizations + 100 GitRepositories, 10m, no changes", { ...DEFAULT_FLEET }],
  ["the same, 20 pushes a day (webhook)", { ...DEFAULT_FLEET, pushesPerDay: 20 }],
  [
    "1,000 Kustomizations + 1,000 GitRepositories, 10m, no changes",
    { ...DEFAULT_FLEET, kustomizations: 1000, gitRepositories: 1000 },
  ],
  [
    "100 HelmReleases (+ their HelmCharts) from 1 HelmRepository, 10m, no changes",
    { ...DEFAULT_FLEET, kustomizations: 0, gitRepositories: 0, helmReleases: 100, helmRepositories: 1 },
  ],
];

async function main(): Promise<void> {
  const fleet = fleetFlags.length > 0 ? fleetFromFlags(values) : undefined;
  if (values.measure) {
    const testbed = await startTestbed({
      only: ["kube", "git", "aws", "helmRepo"],
      onProgress: (l) => process.stderr.write(`\r\x1b[K${l}`),
    });
    try {
      const iterations = Number(values.iterations);
      if (!Number.isInteger(iterations) || iterations < 1)
        throw new Error(`--iterations must be a whole number ≥ 1, not '${values.iterations}'`);
      const measured = await measureAwsCosts(testbed, iterations, (l) => process.stderr.write(`\r\x1b[K► ${l}`));
      await writeFile(RESULTS, `${JSON.stringify(measured, null, 2)}\n`);
      process.stderr.write(`\r\x1b[K✔ measured; saved ${RESULTS}\n`);
    } finally {
      await testbed.stop();
    }
  }
  const measured = JSON.parse(await readFile(RESULTS, "utf8")) as Measured;
  console.log(`Measured ${measured.measuredOn} on ${measured.machine}, median of ${measured.iterations}:\n`);
  console.log(measuredTable(measured));
  console.log(
    `\nCold-start INIT (bench/coldstart): worker ${measured.initMs.worker.toFixed(0)} ms, tick ${measured.initMs.tick.toFixed(0)} ms, webhook ${measured.initMs.webhook.toFixed(0)} ms. ` +
      `Custom metrics: ${measured.customMetrics.shared} shared, by kind ${JSON.stringify(measured.customMetrics.byKind)}. Store object ${(measured.storeObjectBytes / 1024).toFixed(1)} KiB, artifact ${(measured.artifactBytes / 1024).toFixed(1)} KiB.`,
  );
  console.log(`Prices: us-east-1, read ${PRICES_READ_ON} (bench/aws-prices.ts cites each); free tiers not applied.`);
  console.log(`Assumptions: ${JSON.stringify(ASSUMPTIONS)}\n`);
  const flux = fluxFootprint(prices);
  if (fleet) {
    console.log(`Fleet: ${JSON.stringify(fleet)}\n`);
    const items = monthlyCost(fleet, measured, prices);
    console.log(itemsTable(items));
    console.log(`\nSluice: ${usd(total(items))} a month`);
  } else {
    console.log(
      table(
        [
          "scenario",
          "Sluice a month",
          "of which Lambda",
          "of which fixed (dashboard, metrics, alarms, KMS, secrets, idle polls)",
        ],
        SCENARIOS.map(([name, f]) => {
          const items = monthlyCost(f, measured, prices);
          const lambda = total(items.filter((i) => i.service === "Lambda"));
          const fixed = total(items.filter((i) => i.fixed));
          return [name, usd(total(items)), usd(lambda), usd(fixed)];
        }),
      ),
    );
  }
  console.log(
    `\nFlux's controllers, always on: Fargate ${usd(total(flux.fargate))} a month (4 pods × 0.25 vCPU / 0.5 GB), ` +
      `EC2 ${usd(total(flux.ec2))} (t3.small + 20 GB gp3; prices are assumptions). ` +
      `Both sides share the target cluster; a dedicated cluster would add ${usd(flux.eksControlPlane.monthlyUsd)} (EKS control plane).`,
  );
}

await main();
