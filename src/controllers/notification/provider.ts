import type { Provider } from "../../api/provider.js";
import { REASON } from "../../api/reasons.js";
import { ProviderConfigError, resolveProvider } from "../../notify/provider-endpoint.js";
import { CommitStatusExprError, compileCommitStatusExpr } from "../../notify/providers/commit-status-rules.js";
import type { Outcome } from "../../pipeline/outcome.js";
import type { ReconcilerPorts } from "../reconciler-ports.js";
import { markFailed, markReady, type Stamp } from "../../pipeline/status.js";

type ProviderStatus = NonNullable<Provider["status"]>;

/** How soon a Provider whose secret is missing or malformed is looked at again (a Secret may appear any time). */
const RETRY_MS = 60_000;

/**
 * A Provider's Ready, as notification-controller v1beta2 wrote it (v1beta3 keeps none): its address
 * and secrets resolved the way each delivery resolves them, so a missing Secret is reported here,
 * named, before an Alert needs it. Nothing secret reaches the status: the messages name keys, not values.
 */
export async function reconcileProvider(ports: ReconcilerPorts, provider: Provider): Promise<Outcome<ProviderStatus>> {
  const at: Stamp = { generation: provider.metadata.generation ?? 1, now: new Date(ports.clock.now()) };
  const status = provider.status ?? {};
  try {
    await resolveProvider(provider, ports.secrets);
  } catch (error) {
    if (!(error instanceof ProviderConfigError)) throw error;
    const message = `Provider/${provider.metadata.namespace ?? "default"}/${provider.metadata.name}: ${error.message}`;
    return {
      status: markFailed(status, at, REASON.validationFailed, message),
      requeueAfterMs: RETRY_MS,
      event: { severity: "error", reason: REASON.validationFailed, message },
    };
  }
  // An expression that does not compile would fail every delivery: said once, here, as an Alert's bad pattern is.
  try {
    if (provider.spec.commitStatusExpr) compileCommitStatusExpr(provider.spec.commitStatusExpr);
  } catch (error) {
    if (!(error instanceof CommitStatusExprError)) throw error;
    const message = `Provider/${provider.metadata.namespace ?? "default"}/${provider.metadata.name}: ${error.message}`;
    return {
      status: markFailed(status, at, REASON.invalidSpec, message, { stalled: true }),
      event: { severity: "error", reason: REASON.invalidSpec, message },
    };
  }
  return { status: markReady(status, at, REASON.succeeded, "Initialized") };
}
