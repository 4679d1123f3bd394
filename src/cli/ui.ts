import type { Command } from "commander";
import { formatKey } from "../api/object-key.js";
import { systemClock } from "../ports/clock.js";
import { eventsInCloudWatch } from "../runtime/lambda/ui.js";
import { loadAssets, type Assets } from "../ui/assets.js";
import { startUiServer } from "../ui/server.js";
import { cliAws, globals } from "./context.js";
import { say } from "./output.js";
import { parseListenAddress, printEvent } from "./run.js";

/** `sluice ui`'s flags (commands/ui.ts). */
export interface UiFlags {
  region?: string;
  uiAddress: string;
}

/** How often an open page's Store is listed for changes (S3 has no watch). */
const POLL_MS = 5_000;

/**
 * `sluice ui --aws-bucket B`: the web UI on loopback against the control plane deployed to AWS, read and written with
 * the caller's own AWS credentials (the SDK's default chain), actions recorded as done by their STS identity.
 * Reconcile requests go to the stack's queue, as `sluice reconcile --aws-bucket` sends them.
 */
export async function serveAwsUi(flags: UiFlags, command: Command): Promise<void> {
  const options = globals(command);
  if (!options.awsBucket)
    throw new Error(
      "sluice ui serves a control plane deployed to AWS: give --aws-bucket (or SLUICE_AWS_BUCKET); `sluice run` serves the local one's UI",
    );
  const bucket = options.awsBucket;
  const listen = parseListenAddress(flags.uiAddress, "--ui-address");
  const aws = await import("./aws.js");
  const client = cliAws(flags.region);
  const actor = await aws.callerArn(client);
  const outputs = await aws.stackOutputs(bucket, client).catch((error: Error) => {
    say.warning(`cannot read the stack's outputs (cloudformation:DescribeStacks): ${error.message}`);
    return new Map<string, string>();
  });
  const queueUrl = options.awsQueueUrl ?? outputs.get("QueueUrl");
  if (!queueUrl)
    say.warning(
      "no queue (--aws-queue-url, or a stack whose BucketName output is this bucket): actions are written to the Store and picked up at each object's next interval",
    );
  const store = aws.s3Store(bucket, client);
  let assets: Promise<Assets> | undefined;
  const server = await startUiServer({
    ports: {
      store,
      // The audit record of what this session asked, here; on AWS the control plane's events are CloudWatch lines.
      events: { emit: async (event) => printEvent(event) },
      clock: systemClock,
      announce: queueUrl
        ? (key) =>
            aws.enqueue(
              queueUrl,
              { key: formatKey(key), reason: "requested", trigger: new Date().toISOString() },
              client,
            )
        : undefined,
      readEvents: eventsInCloudWatch(outputs.get("EventsLogGroup")),
      heartbeat: aws.heartbeatReader(bucket, client),
      onError: (error) => say.failure(`web UI: ${error instanceof Error ? error.message : String(error)}`),
    },
    assets: () => (assets ??= loadAssets()),
    host: listen.host ?? "0.0.0.0",
    port: listen.port,
    actor,
    subscribe: aws.storeChanges(bucket, client, POLL_MS, (error) =>
      say.failure(`web UI: cannot list the Store for changes: ${(error as Error).message}`),
    ),
  });
  say.success(`web UI of s3://${bucket} at ${server.url}, acting as ${actor} (Ctrl-C stops)`);
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  await server.close();
}
