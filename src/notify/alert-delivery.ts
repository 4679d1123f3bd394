import { admitFluxObject, InvalidObjectError } from "../api/parse.js";
import type { Alert } from "../api/alert.js";
import type { Provider } from "../api/provider.js";
import { unsupportedFields } from "../api/unsupported.js";
import { formatKey } from "../api/object-key.js";
import { REASON } from "../api/reasons.js";
import type { Clock } from "../ports/clock.js";
import type { Log } from "../ports/log.js";
import type { Secrets } from "../secrets/secrets.js";
import type { NetworkPolicy } from "../sources/network-guard.js";
import type { Store } from "../store/store.js";
import { alertTakes, withAlertMetadata } from "./alert-match.js";
import { EVENT_GROUP, type Events, type FluxEvent } from "./events.js";
import { PostError, sendWithRetry } from "./post.js";
import { maskSecrets, resolveProvider, type AwsTarget } from "./provider-endpoint.js";
import { CHANGE_REQUEST_TYPES } from "./providers/change-request-comment.js";
import { uidOf } from "./providers/derived-uid.js";
import { commitStatusKey, commitStatusTakes, providerUid, setsCommitStatus } from "./providers/commit-status-rules.js";
import { deliveryFor } from "./providers/registry.js";

// One event sent to the Alerts that take it, as notification-controller v1.9.3's event handler
// sends it: the Alert's Provider resolved (its secrets read now), the metadata combined, the request
// POSTed — or, for an SNS topic or EventBridge bus address, published. Shared by local delivery
// (alert-dispatch.ts, in the background of `sluice run`) and the notify function on AWS.
// What cannot be sent is logged and recorded as a NotificationDispatchFailed event on the Alert,
// secret values masked, as Flux reports it.

/** Publishes a notification to an SNS topic or EventBridge bus (the runtime's IAM identity). */
export interface AwsPublisher {
  /** Throws a PostError, retryable when another attempt later may succeed. */
  publish(target: AwsTarget, notification: FluxEvent): Promise<void>;
}

/** What sending reads and where it reports. */
export interface AlertDeliveryOptions {
  store: Store;
  secrets: Secrets;
  clock: Clock;
  log: Log;
  network: NetworkPolicy;
  /** Alerts take events of their own namespace only (`--no-cross-namespace-refs`). */
  noCrossNamespaceRefs: boolean;
  /** Where warnings about Alerts go; recorded only, never delivered (no eventSources kind names an Alert). */
  recorded: Events;
  /** SNS and EventBridge; without one, a Provider addressed by ARN fails saying where it is delivered. */
  publisher?: AwsPublisher;
  /** Hand a Retry-After back (the notify queue waits it out) instead of sleeping through it. */
  deferRetryAfter?: boolean;
  /** Bounds one delivery, retries included, below the Provider's timeout (a Lambda function's own limit). */
  maxTimeoutMs?: number;
}

/** How one Alert's delivery ended: sent, done with (skipped, or failed for good: reported), or worth another attempt. */
export type SendResult = { sent: true } | { sent: false; retry?: { afterMs?: number } };

/** The Alerts (valid, not suspended) that take `event`, in the Store's order. */
export async function alertsTaking(store: Store, event: FluxEvent): Promise<Alert[]> {
  const labelsOf = async (e: FluxEvent) => (await store.get(e.involvedObject))?.object.metadata.labels ?? {};
  const alerts: Alert[] = [];
  for (const { object } of await store.list({ kind: "Alert" })) {
    const alert = admitted<Alert>(object);
    if (alert && (await alertTakes(alert, event, labelsOf))) alerts.push(alert);
  }
  return alerts;
}

/** Sends `event` to `alert`'s Provider. Failures are reported on the Alert, never thrown. */
export async function sendToAlert(options: AlertDeliveryOptions, alert: Alert, event: FluxEvent): Promise<SendResult> {
  const namespace = alert.metadata.namespace ?? "default";
  const log = options.log.child({ alert: `${namespace}/${alert.metadata.name}`, object: objectOf(event) });
  const fail = async (message: string, retry?: { afterMs?: number }): Promise<SendResult> => {
    log.error({ reason: REASON.notificationDispatchFailed }, message);
    await emitOnAlert(options, alert, REASON.notificationDispatchFailed, message);
    return { sent: false, ...(retry && { retry }) };
  };
  if (options.noCrossNamespaceRefs && event.involvedObject.namespace !== namespace)
    return fail(
      `discarding event, access denied to cross-namespace sources: alert '${namespace}/${alert.metadata.name}' can't process event from '${objectOf(event)}', cross-namespace references have been blocked`,
    );
  const key = { kind: "Provider", namespace, name: alert.spec.providerRef.name };
  const stored = await options.store.get(key);
  if (!stored) return fail(`failed to read provider: ${formatKey(key)} not found`);
  const provider = admitted<Provider>(stored.object);
  if (!provider) return fail(`failed to read provider: ${formatKey(key)} is invalid`);
  if (provider.spec.suspend) return { sent: false };
  const deliver = deliveryFor(provider.spec.type);
  if (!deliver || unsupportedFields(provider).length > 0)
    return fail(`provider ${formatKey(key)} is refused by Sluice: see its Ready condition`);
  // Flux's rule: a commit status Provider takes only what can set a status (updates, commits, errors).
  if (setsCommitStatus(provider.spec.type) && !commitStatusTakes(event)) {
    log.info(
      { provider: formatKey(key) },
      "event dropped for commit status providers due to missing commit metadata key",
    );
    return { sent: false };
  }
  // Flux's rule: a change request comment Provider takes only events whose object names a request.
  if (CHANGE_REQUEST_TYPES.includes(provider.spec.type) && !event.metadata[`${EVENT_GROUP}/change_request`]) {
    log.info(
      { provider: formatKey(key) },
      "event dropped for change request providers due to missing change request metadata key",
    );
    return { sent: false };
  }
  const { event: notification, conflicts } = withAlertMetadata(event, alert);
  let commitStatus = "";
  if (setsCommitStatus(provider.spec.type)) {
    try {
      commitStatus = commitStatusKey(provider, alert, notification);
    } catch (error) {
      return fail(
        `failed to dispatch notification for ${objectOf(event)}: failed to create commit status: ${(error as Error).message}`,
      );
    }
  }
  let secretValues: string[] = [];
  try {
    const endpoint = await resolveProvider(provider, options.secrets);
    secretValues = endpoint.secretValues;
    if (conflicts.length > 0) await reportMetadataConflicts(options, alert, log, conflicts);
    if (endpoint.aws) {
      if (!options.publisher)
        return fail(
          `provider ${formatKey(key)} names an AWS ${endpoint.aws.service === "sns" ? "SNS topic" : "EventBridge bus"}: Sluice publishes there on AWS only (the notify function)`,
        );
      await options.publisher.publish(endpoint.aws, notification);
    } else {
      // One deadline for the delivery, however many requests it makes.
      const timeoutMs = Math.min(endpoint.timeoutMs, options.maxTimeoutMs ?? Infinity);
      const deadline = options.clock.now() + timeoutMs;
      await deliver(notification, {
        endpoint,
        commitStatus,
        providerUid: providerUid(provider),
        alert: { namespace, name: alert.metadata.name, uid: uidOf(alert.metadata) },
        network: options.network,
        send: (request) =>
          sendWithRetry(request, {
            network: options.network,
            caPem: endpoint.caPem,
            clientCert: endpoint.clientCert,
            proxy: endpoint.proxy,
            timeoutMs,
            deadline,
            clock: options.clock,
            deferRetryAfter: options.deferRetryAfter,
          }),
      });
    }
    log.info({ provider: formatKey(key) }, "notification sent");
    return { sent: true };
  } catch (error) {
    const retry = error instanceof PostError && error.retryable ? { afterMs: error.retryAfterMs } : undefined;
    return fail(
      `failed to send notification for ${objectOf(event)}: ${maskSecrets((error as Error).message, secretValues)}`,
      retry,
    );
  }
}

/** Flux's warning when the Alert's eventMetadata or summary names a key the controller set (the controller's wins). */
async function reportMetadataConflicts(
  options: AlertDeliveryOptions,
  alert: Alert,
  log: Log,
  keys: string[],
): Promise<void> {
  const message =
    "metadata key conflicts detected (please refer to the Alert API docs and Flux RFC 0008 for more information)";
  log.info({ conflictingKeys: keys }, `warning: ${message}`);
  await emitOnAlert(options, alert, REASON.metadataAppendFailed, `${message}: ${keys.join(", ")}`);
}

/** A warning about an Alert, recorded only: events about Alerts are never delivered (no eventSources kind names them). */
async function emitOnAlert(
  options: AlertDeliveryOptions,
  alert: Alert,
  reason: string,
  message: string,
): Promise<void> {
  await options.recorded.emit({
    involvedObject: {
      apiVersion: alert.apiVersion,
      kind: "Alert",
      namespace: alert.metadata.namespace ?? "default",
      name: alert.metadata.name,
    },
    severity: "error",
    reason,
    message,
    metadata: {},
    reportingController: "notification-controller",
    timestamp: new Date(options.clock.now()).toISOString(),
  });
}

/** `Kind/namespace/name` of the object an event is about, as Flux's involvedObjectString writes it. */
export function objectOf(event: FluxEvent): string {
  return formatKey(event.involvedObject);
}

/** A stored Alert or Provider as Flux's API server admits it; undefined when invalid (its reconcile says why). */
function admitted<T>(object: unknown): T | undefined {
  try {
    return admitFluxObject(object).object as T;
  } catch (error) {
    if (error instanceof InvalidObjectError) return undefined;
    throw error;
  }
}
