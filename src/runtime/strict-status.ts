/**
 * Settings.strictStatus from the environment: SLUICE_STRICT_STATUS=1 (the test suite sets it) makes a
 * status that breaks Flux's condition invariants fail its reconcile; unset, it is logged.
 */
export function strictStatusFromEnv(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.SLUICE_STRICT_STATUS === "1";
}
