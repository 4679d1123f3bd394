import { createContext, Script } from "node:vm";

// cel-js has no cost limit, and its `matches` is JavaScript's backtracking RegExp (Flux's CEL uses RE2): a nested
// comprehension or a pathological pattern in a tenant's expression would hold the event loop every tenant shares.
// Run inside a vm script, V8's watchdog stops it at the deadline.

/** How long one evaluation of a user's CEL expression may run. */
export const CEL_DEADLINE_MS = 200;

const sandbox = createContext({ run: undefined as (() => unknown) | undefined });
const runInSandbox = new Script("run()");

/** `evaluate()`, stopped with an error (code ERR_SCRIPT_EXECUTION_TIMEOUT) once it runs past the deadline. */
export function withinDeadline(evaluate: () => unknown): unknown {
  sandbox.run = evaluate;
  try {
    return runInSandbox.runInContext(sandbox, { timeout: CEL_DEADLINE_MS });
  } finally {
    sandbox.run = undefined;
  }
}

/** Whether an evaluation failed by running past the deadline. */
export function pastDeadline(error: unknown): boolean {
  return (error as { code?: string } | undefined)?.code === "ERR_SCRIPT_EXECUTION_TIMEOUT";
}
