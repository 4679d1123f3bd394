import { SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { NOTIFICATION_REFERENCE_KINDS } from "../api/meta.js";
import type { Events, FluxEvent } from "../notify/events.js";
import { notificationMessage } from "../notify/queued-notification.js";
import type { Log } from "../ports/log.js";

/**
 * The worker's Events on AWS: each event is recorded (logged), then put on the notify queue, one
 * SQS SendMessage, so a reconcile never waits for a Provider. Alert matching happens in the notify
 * function, which reads the Store anyway; here only the kinds no Alert can name are left out
 * (Alert, Provider and Receiver events are never delivered). An event that cannot be enqueued is
 * logged and the reconcile goes on: its status is written already, and failing it would not send
 * the notification either.
 */
export class QueuedEvents implements Events {
  constructor(
    private readonly recorded: Events,
    private readonly sqs: SQSClient,
    private readonly queueUrl: string,
    private readonly log: Log,
  ) {}

  async emit(event: FluxEvent): Promise<void> {
    await this.recorded.emit(event);
    if (!(NOTIFICATION_REFERENCE_KINDS as readonly string[]).includes(event.involvedObject.kind)) return;
    const { body, deduplicationId } = notificationMessage(event);
    try {
      await this.sqs.send(
        new SendMessageCommand({
          QueueUrl: this.queueUrl,
          MessageBody: body,
          MessageGroupId: deduplicationId,
          MessageDeduplicationId: deduplicationId,
        }),
      );
    } catch (error) {
      const { kind, namespace, name } = event.involvedObject;
      this.log.error({ err: error, object: `${kind}/${namespace}/${name}` }, "event not queued for notification");
    }
  }
}
