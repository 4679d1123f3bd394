import { mkdtemp } from "node:fs/promises";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KMSClient } from "@aws-sdk/client-kms";
import { S3Client } from "@aws-sdk/client-s3";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { pino } from "pino";
import { S3BundleChannel } from "../aws/s3-bundle-channel.js";
import { awsClientOptions } from "../aws/clients.js";
import { kmsDataKeys } from "../aws/kms.js";
import { openCluster } from "../cluster/cluster.js";
import { systemClock } from "../ports/clock.js";
import { answerScrape, PrometheusMetrics } from "../runtime/prometheus.js";
import { version } from "../version.js";
import { defaultRenderLimits } from "../render/limits.js";
import { resolveTools, ToolsUnavailableError } from "../render/tools.js";
import { Agent, type AgentReleases } from "./agent.js";
import { agentConfigFromEnv, agentVerifier, inClusterTarget } from "./config.js";

// The pull agent's process: JSON logs on stdout, stops cleanly on SIGTERM (a rollout, a drain).

const log = pino({ base: { component: "sluice-agent" } });
try {
  const config = agentConfigFromEnv(process.env);
  // Its own reconciles only: the control plane exports every object's state (gotk_resource_info).
  const metrics = new PrometheusMetrics({ clock: systemClock, objectState: false });
  const aws = awsClientOptions({ region: config.region, endpoint: config.endpoint });
  const agent = new Agent({
    cluster: config.cluster,
    inbox: new S3BundleChannel(new S3Client(aws), config.bucket, config.cluster),
    verifier: await agentVerifier(config, new SecretsManagerClient(aws)),
    kube: await openCluster(await inClusterTarget(process.env), systemClock),
    clock: systemClock,
    log,
    version,
    pollMs: config.pollMs,
    concurrency: config.concurrency,
    kms: kmsDataKeys(new KMSClient(aws)),
    metrics,
    releases: await helmReleases(),
  });
  // GET /healthz for the Deployment's liveness probe: 200 while the poll loop goes round; GET /metrics for Prometheus.
  const probe = createServer((request, response) => {
    if (answerScrape(metrics, request, response)) return;
    const ok = request.url === "/healthz" && agent.alive();
    response.writeHead(ok ? 200 : 503).end(ok ? "ok\n" : "poll loop stalled\n");
  }).listen(config.healthPort);
  for (const signal of ["SIGTERM", "SIGINT"] as const) process.once(signal, () => agent.stop());
  log.info({ cluster: config.cluster, bucket: config.bucket, version }, "agent started");
  await agent.run();
  probe.close();
  log.info({}, "agent stopped");
} catch (error) {
  log.error({ err: error }, "agent cannot start");
  process.exitCode = 1;
}

/**
 * helm and kubectl for HelmReleases: at /opt in the agent image, else extracted from the npm package. Without them
 * the agent still syncs Kustomizations and refuses HelmRelease bundles, saying why.
 */
async function helmReleases(): Promise<AgentReleases | undefined> {
  try {
    const tools = await resolveTools({ cacheDir: join(tmpdir(), "sluice-tools") });
    const workDir = await mkdtemp(join(tmpdir(), "sluice-agent-"));
    // Health is polled at the agent's own pace; hooks may take as long as a direct cluster's (no Lambda limit here).
    // A render may use half of the agent pod's 512Mi memory limit (`sluice agent install`), so the pod survives it.
    const renderLimits = { ...defaultRenderLimits, maxMemoryBytes: 256 << 20 };
    return { tools, workDir, settings: { healthPollMs: 1_000, hookBudgetMs: 10 * 60_000, renderLimits } };
  } catch (error) {
    if (!(error instanceof ToolsUnavailableError)) throw error;
    log.warn({ err: error }, "helm not found: HelmRelease bundles will be refused");
    return undefined;
  }
}
