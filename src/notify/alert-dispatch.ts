import { admitFluxObject, InvalidObjectError } from "../api/parse.js";
import type { Alert } from "../api/alert.js";
import type { Provider } from "../api/provider.js";
import { DELIVERED_PROVIDER_TYPES, unsupportedFields } from "../api/unsupported.js";
import { formatKey } from "../api/object-key.js";
import { REASON } from "../api/reasons.js";
import type { Clock } from "../ports/clock.js";
import type { Log } from "../ports/log.js";
import type { Secrets } from "../secrets/secrets.js";
import type { NetworkPolicy } from "../sources/network-guard.js";
import type { Store } from "../store/store.js";
import { alertTakes, duplicateKey, withAlertMetadata } from "./alert-match.js";
import type { Events, FluxEvent } from "./events.js";
import { requestFor } from "./payloads.js";
import { postWithRetry } from "./post.js";
import { maskSecrets, resolveProvider } from "./provider-endpoint.js";

// Local delivery of events to Alerts' Providers: every event is recorded by the wrapped Events first,
// then handed to the Alerts that take it, in the background, so a slow or failing endpoint never
// delays the reconcile that emitted it. What cannot be sent is logged and reported as a
// NotificationDispatchFailed event on the Alert, as notification-controller reports it, secrets masked.
//
//   reconcile ── emit ──► recorded (file) ──► returns
//                              └──► (background) dedup ─► Alerts that take it ─► Provider ─► POST, retried

/** Flux's --rate-limit-interval: the same notification is sent once in this long. */
export const DUPLICATE_WINDOW_MS = 5 * 60_000;

/** What delivery reads and where it reports. */
export interface AlertDispatchOptions {
  store: Store;
  secrets: Secrets;
  clock: Clock;
  log: Log;
  network: NetworkPolicy;
  /** Alerts take events of their own namespace only (`--no-cross-namespace-refs`). */
  noCrossNamespaceRefs: boolean;
}

/** Events, recorded by `recorded` and sent on to the Alerts that take them. */
export class AlertingEvents implements Events {
  private readonly sentAt = new Map<string, number>();
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly recorded: Events,
    private readonly options: AlertDispatchOptions,
  ) {}

  async emit(event: FluxEvent): Promise<void> {
    await this.recorded.emit(event);
    if (this.isDuplicate(event)) return;
    const delivery = this.deliver(event).catch((error: unknown) =>
      this.options.log.error({ err: error, object: objectOf(event) }, "notification dispatch failed"),
    );
    this.inFlight.add(delivery);
    void delivery.finally(() => this.inFlight.delete(delivery));
  }

  /** Waits for the deliveries under way (each bounded by its Provider's timeout). */
  async drain(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }

  private isDuplicate(event: FluxEvent): boolean {
    const now = this.options.clock.now();
    for (const [key, at] of this.sentAt) if (now - at >= DUPLICATE_WINDOW_MS) this.sentAt.delete(key);
    const key = duplicateKey(event);
    if (this.sentAt.has(key)) return true;
    this.sentAt.set(key, now);
    return false;
  }

  private async deliver(event: FluxEvent): Promise<void> {
    const labelsOf = async (e: FluxEvent) =>
      (await this.options.store.get(e.involvedObject))?.object.metadata.labels ?? {};
    const alerts: Alert[] = [];
    for (const { object } of await this.options.store.list({ kind: "Alert" })) {
      const alert = admitted<Alert>(object);
      if (alert && (await alertTakes(alert, event, labelsOf))) alerts.push(alert);
    }
    await Promise.all(alerts.map((alert) => this.send(alert, event)));
  }

  private async send(alert: Alert, event: FluxEvent): Promise<void> {
    const namespace = alert.metadata.namespace ?? "default";
    const log = this.options.log.child({ alert: `${namespace}/${alert.metadata.name}`, object: objectOf(event) });
    const fail = (message: string) => this.reportFailure(alert, log, message);
    if (this.options.noCrossNamespaceRefs && event.involvedObject.namespace !== namespace)
      return fail(
        `discarding event, access denied to cross-namespace sources: alert '${namespace}/${alert.metadata.name}' can't process event from '${objectOf(event)}', cross-namespace references have been blocked`,
      );
    const key = { kind: "Provider", namespace, name: alert.spec.providerRef.name };
    const stored = await this.options.store.get(key);
    if (!stored) return fail(`failed to read provider: ${formatKey(key)} not found`);
    const provider = admitted<Provider>(stored.object);
    if (!provider) return fail(`failed to read provider: ${formatKey(key)} is invalid`);
    if (provider.spec.suspend) return;
    if (
      !(DELIVERED_PROVIDER_TYPES as readonly string[]).includes(provider.spec.type) ||
      unsupportedFields(provider).length > 0
    )
      return fail(`provider ${formatKey(key)} is refused by Sluice: see its Ready condition`);
    let secretValues: string[] = [];
    try {
      const endpoint = await resolveProvider(provider, this.options.secrets);
      secretValues = endpoint.secretValues;
      const { event: notification, conflicts } = withAlertMetadata(event, alert);
      if (conflicts.length > 0) await this.reportMetadataConflicts(alert, log, conflicts);
      await postWithRetry(requestFor(endpoint, notification), {
        network: this.options.network,
        caPem: endpoint.caPem,
        clientCert: endpoint.clientCert,
        timeoutMs: endpoint.timeoutMs,
        clock: this.options.clock,
      });
      log.info({ provider: formatKey(key) }, "notification sent");
    } catch (error) {
      await fail(
        `failed to send notification for ${objectOf(event)}: ${maskSecrets((error as Error).message, secretValues)}`,
      );
    }
  }

  /** Flux's warning when the Alert's eventMetadata or summary names a key the controller set (the controller's wins). */
  private async reportMetadataConflicts(alert: Alert, log: Log, keys: string[]): Promise<void> {
    const message =
      "metadata key conflicts detected (please refer to the Alert API docs and Flux RFC 0008 for more information)";
    log.info({ conflictingKeys: keys }, `warning: ${message}`);
    await this.emitOnAlert(alert, REASON.metadataAppendFailed, `${message}: ${keys.join(", ")}`);
  }

  private async reportFailure(alert: Alert, log: Log, message: string): Promise<void> {
    log.error({ reason: REASON.notificationDispatchFailed }, message);
    await this.emitOnAlert(alert, REASON.notificationDispatchFailed, message);
  }

  /** A warning about an Alert, recorded only: events about Alerts are never delivered (no eventSources kind names them). */
  private async emitOnAlert(alert: Alert, reason: string, message: string): Promise<void> {
    await this.recorded.emit({
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
      timestamp: new Date(this.options.clock.now()).toISOString(),
    });
  }
}

/** `Kind/namespace/name` of the object an event is about, as Flux's involvedObjectString writes it. */
function objectOf(event: FluxEvent): string {
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
