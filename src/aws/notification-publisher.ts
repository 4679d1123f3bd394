import { createHash } from "node:crypto";
import { EventBridgeClient, PutEventsCommand } from "@aws-sdk/client-eventbridge";
import { PublishCommand, SNSClient } from "@aws-sdk/client-sns";
import type { AwsPublisher } from "../notify/alert-delivery.js";
import type { FluxEvent } from "../notify/events.js";
import { fluxEventJson } from "../notify/payloads.js";
import { PostError } from "../notify/post.js";
import type { AwsTarget } from "../notify/provider-endpoint.js";
import { awsClientOptions, type AwsClientConfig } from "./clients.js";

// Alerts whose Provider address is an SNS topic or EventBridge bus ARN, published with the
// function's own IAM identity. The body is what a `generic` Provider POSTs (Flux's event JSON), so
// a subscriber reads the same document from either; the event's kind, severity and reason also go
// where each service filters on them (SNS message attributes; EventBridge's detail).

/** EventBridge's `source` and `detail-type` of every notification (rules match on them). */
export const EVENTBRIDGE_SOURCE = "sluice";
export const EVENTBRIDGE_DETAIL_TYPE = "Flux event";

/** Publishes to SNS and EventBridge, one client per service and region (a topic may live in another region). */
export class AwsNotificationPublisher implements AwsPublisher {
  private readonly sns = new Map<string, SNSClient>();
  private readonly events = new Map<string, EventBridgeClient>();

  constructor(private readonly config: AwsClientConfig) {}

  async publish(target: AwsTarget, notification: FluxEvent): Promise<void> {
    const body = JSON.stringify(fluxEventJson(notification));
    try {
      if (target.service === "sns") await this.publishToSns(target, notification, body);
      else await this.putEvent(target, notification, body);
    } catch (error) {
      if (error instanceof PostError) throw error;
      throw new PostError(`failed to publish to ${target.arn}: ${(error as Error).message}`, isRetryable(error));
    }
  }

  private async publishToSns(target: AwsTarget, event: FluxEvent, body: string): Promise<void> {
    const { kind, namespace, name } = event.involvedObject;
    const attribute = (value: string) => ({ DataType: "String", StringValue: value });
    await this.client(this.sns, target.region, SNSClient).send(
      new PublishCommand({
        TopicArn: target.arn,
        Message: body,
        Subject: subjectOf(event),
        // Subscription filter policies match on these.
        MessageAttributes: {
          severity: attribute(event.severity),
          reason: attribute(event.reason),
          kind: attribute(kind),
          namespace: attribute(namespace),
          name: attribute(name),
        },
        // A FIFO topic needs both: per object in order; the same event once.
        ...(target.arn.endsWith(".fifo") && {
          MessageGroupId: `${kind}/${namespace}/${name}`,
          MessageDeduplicationId: sha256Hex(body),
        }),
      }),
    );
  }

  private async putEvent(target: AwsTarget, event: FluxEvent, body: string): Promise<void> {
    const answer = await this.client(this.events, target.region, EventBridgeClient).send(
      new PutEventsCommand({
        Entries: [
          {
            EventBusName: target.arn,
            Source: EVENTBRIDGE_SOURCE,
            DetailType: EVENTBRIDGE_DETAIL_TYPE,
            Detail: body,
            Time: new Date(event.timestamp),
          },
        ],
      }),
    );
    // PutEvents answers 200 with the entries it refused counted.
    if (answer.FailedEntryCount) {
      const entry = answer.Entries?.[0];
      throw new PostError(
        `failed to publish to ${target.arn}: ${entry?.ErrorCode ?? "refused"}: ${entry?.ErrorMessage ?? ""}`,
        entry?.ErrorCode === "ThrottlingException" || entry?.ErrorCode === "InternalFailure",
      );
    }
  }

  private client<C>(cache: Map<string, C>, region: string, make: new (options: object) => C): C {
    let client = cache.get(region);
    if (!client) cache.set(region, (client = new make(awsClientOptions({ ...this.config, region }))));
    return client;
  }
}

/** SNS subjects (shown by e-mail subscriptions) are printable ASCII without line breaks, at most 100 characters. */
function subjectOf(event: FluxEvent): string {
  const { kind, namespace, name } = event.involvedObject;
  return `${kind}/${namespace}/${name}: ${event.reason}`.replace(/[^\x20-\x7e]/g, "?").slice(0, 100);
}

/** The SDK retried already (3 attempts); another attempt later may still mend throttling, a server fault or a lost connection. */
function isRetryable(error: unknown): boolean {
  const sdk = error as { $fault?: string; $retryable?: unknown; $metadata?: unknown };
  if (sdk.$metadata === undefined) return true; // never answered: the network
  return sdk.$fault === "server" || sdk.$retryable !== undefined;
}

function sha256Hex(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}
