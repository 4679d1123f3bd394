import { Environment, Optional } from "@marcbachmann/cel-js";
import type { Alert } from "../../api/alert.js";
import { COMMIT_STATUS_TYPES, type Provider } from "../../api/provider.js";
import { REASON } from "../../api/reasons.js";
import type { FluxEvent } from "../events.js";
import { fluxEventJson } from "../payloads.js";
import { uidOf } from "./derived-uid.js";

// The name a commit status is set under, as notification-controller v1.9.3 makes it
// (internal/server/provider_commit_status.go): the Provider's spec.commitStatusExpr, a CEL expression
// over `event`, `alert` and `provider` that must give a string, or by default
// `<kind>/<name>/<first part of the Provider's UID>`, lower-cased; and which events such a Provider takes
// (internal/server/event_handlers.go).

/** Whether a Provider type sets commit statuses (Flux's isCommitStatusProvider). */
export function setsCommitStatus(type: string): boolean {
  return COMMIT_STATUS_TYPES.includes(type);
}

/**
 * Whether a commit status Provider takes `event`: Flux's rule takes a commit status update, an event
 * carrying a commit, and any error. kustomize-controller marks its "Reconciliation finished" event
 * (sent whenever the Kustomization is Ready) as the update; Sluice's Kustomization reports a Ready
 * revision once, as ReconciliationSucceeded, which stands for that event here.
 */
export function commitStatusTakes(event: FluxEvent): boolean {
  const update =
    event.metadata.commit_status === "update" ||
    (event.involvedObject.kind === "Kustomization" &&
      event.severity === "info" &&
      event.reason === REASON.reconciliationSucceeded);
  return update || Boolean(event.metadata.commit) || event.severity === "error";
}

/** A commitStatusExpr that does not compile, or does not give a string for an event. */
export class CommitStatusExprError extends Error {
  override name = "CommitStatusExprError";
}

// Flux's runtime/cel environment: optional types (with lists' first() and last()), the strings
// extension; cel-js has the strings functions built in.
const environment = new Environment({
  unlistedVariablesAreDyn: true,
  enableOptionalTypes: true,
  homogeneousAggregateLiterals: false,
})
  .registerFunction("list.first(): optional<dyn>", (list: unknown[]) =>
    list.length > 0 ? Optional.of(list[0]) : Optional.none(),
  )
  .registerFunction("list.last(): optional<dyn>", (list: unknown[]) =>
    list.length > 0 ? Optional.of(list.at(-1)) : Optional.none(),
  );

type Compiled = (variables: Record<string, unknown>) => unknown;

/** Compiles a commitStatusExpr; CommitStatusExprError naming the field when it does not parse. */
export function compileCommitStatusExpr(source: string): Compiled {
  try {
    return environment.parse(source) as unknown as Compiled;
  } catch (error) {
    throw new CommitStatusExprError(
      `spec.commitStatusExpr: failed to compile expression: ${(error as Error).message.split("\n")[0]}`,
    );
  }
}

/**
 * A Provider's UID (the default key's last part): its own when it has one, else one derived from its
 * namespace and name.
 */
export function providerUid(provider: Provider): string {
  return uidOf(provider.metadata);
}

/** The commit status key for `event` (already carrying the Alert's metadata). */
export function commitStatusKey(provider: Provider, alert: Alert, event: FluxEvent): string {
  const uid = providerUid(provider);
  const expression = provider.spec.commitStatusExpr;
  if (!expression) {
    const { kind, name } = event.involvedObject;
    return `${kind}/${name}/${uid.split("-")[0]}`.toLowerCase();
  }
  const evaluate = compileCommitStatusExpr(expression);
  let result: unknown;
  try {
    result = evaluate({
      event: fluxEventJson(event),
      alert,
      provider: { ...provider, metadata: { ...provider.metadata, uid } },
    });
  } catch (error) {
    throw new CommitStatusExprError(
      `failed to evaluate the spec.commitStatusExpr CEL expression for the event: ${(error as Error).message.split("\n")[0]}`,
    );
  }
  if (typeof result !== "string")
    throw new CommitStatusExprError(
      `failed to evaluate the spec.commitStatusExpr CEL expression for the event: the result is a ${typeof result === "bigint" ? "int" : typeof result}, not a string`,
    );
  return result;
}
