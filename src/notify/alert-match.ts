import type { Alert, EventSource } from "../api/alert.js";
import { EVENT_GROUP, type FluxEvent } from "./events.js";

// Which Alerts an event goes to, and the event each of them sends: notification-controller v1.9.3's
// filterAlertsForEvent, eventMatchesAlertSource and combineEventMetadata (internal/server/event_handlers.go).
// Pure: the involved object's labels are looked up by the caller, only when a source has matchLabels.

/** The labels of the object an event is about; undefined when it is gone. */
export type LabelsOf = (event: FluxEvent) => Promise<Record<string, string> | undefined>;

/** Whether `alert` takes `event`: not suspended, a source matches, the inclusion list lets it in and the exclusion list does not drop it. */
export async function alertTakes(alert: Alert, event: FluxEvent, labelsOf: LabelsOf): Promise<boolean> {
  if (alert.spec.suspend) return false;
  const namespace = alert.metadata.namespace ?? "default";
  let matched = false;
  for (const source of alert.spec.eventSources) {
    if (await sourceMatches({ ...source, namespace: source.namespace || namespace }, alert, event, labelsOf)) {
      matched = true;
      break;
    }
  }
  if (!matched) return false;
  const { inclusionList = [], exclusionList = [] } = alert.spec;
  if (inclusionList.length > 0 && !inclusionList.some((pattern) => matches(pattern, event.message))) return false;
  // Exclusion wins over inclusion.
  return !exclusionList.some((pattern) => matches(pattern, event.message));
}

async function sourceMatches(
  source: EventSource & { namespace: string },
  alert: Alert,
  event: FluxEvent,
  labelsOf: LabelsOf,
): Promise<boolean> {
  const involved = event.involvedObject;
  if (involved.namespace !== source.namespace || involved.kind !== source.kind) return false;
  // An `info` Alert takes every severity; an `error` one only errors.
  const severity = alert.spec.eventSeverity ?? "info";
  if (event.severity !== severity && severity !== "info") return false;
  if (source.name !== "*" && source.name !== involved.name) return false;
  if (source.matchLabels === undefined) return true;
  const labels = await labelsOf(event);
  if (!labels) return false;
  return Object.entries(source.matchLabels).every(([key, value]) => labels[key] === value);
}

/** A pattern that does not compile matches nothing (the Alert reconcile reports it, InvalidSpec). */
function matches(pattern: string, message: string): boolean {
  try {
    return new RegExp(pattern).test(message);
  } catch {
    return false;
  }
}

/** The patterns of an Alert's inclusion and exclusion lists that do not compile, each with its field path. */
export function invalidPatterns(alert: Alert): string[] {
  const lists = { inclusionList: alert.spec.inclusionList ?? [], exclusionList: alert.spec.exclusionList ?? [] };
  return Object.entries(lists).flatMap(([field, patterns]) =>
    patterns.flatMap((pattern, i) => {
      try {
        new RegExp(pattern);
        return [];
      } catch (error) {
        return [`spec.${field}[${i}] ${JSON.stringify(pattern)}: ${(error as Error).message}`];
      }
    }),
  );
}

/**
 * The event as the Alert sends it, its metadata combined as Flux's RFC 0008 orders it, lowest first:
 * the object's event.toolkit.fluxcd.io/ annotations (the prefix stripped), the Alert's eventMetadata, then its (deprecated) summary as `summary`, then the metadata of the
 * controller that emitted it, which no Alert overrides. Also returns the keys given more than once.
 */
export function withAlertMetadata(event: FluxEvent, alert: Alert): { event: FluxEvent; conflicts: string[] } {
  const prefix = `${EVENT_GROUP}/`;
  const entries = Object.entries(event.metadata);
  const layers: Record<string, string>[] = [
    // The object's event.toolkit.fluxcd.io/ annotations, the prefix stripped.
    Object.fromEntries(entries.filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v])),
    alert.spec.eventMetadata ?? {},
    alert.spec.summary ? { summary: alert.spec.summary } : {},
    Object.fromEntries(entries.filter(([k]) => !k.startsWith(prefix))),
  ];
  const seen = new Map<string, number>();
  for (const layer of layers) for (const key of Object.keys(layer)) seen.set(key, (seen.get(key) ?? 0) + 1);
  const conflicts = [...seen].filter(([, count]) => count > 1).map(([key]) => key);
  return {
    event: { ...event, metadata: Object.assign({}, ...layers) as Record<string, string> },
    conflicts: conflicts.sort(),
  };
}

/** Flux's rate-limit key (eventKeyFunc): the same object, message and revisions is the same notification. */
export function duplicateKey(event: FluxEvent): string {
  const { kind, namespace, name } = event.involvedObject;
  const { originRevision, revision } = event.metadata;
  return JSON.stringify([kind, namespace, name, event.message, originRevision ?? null, revision ?? null]);
}
