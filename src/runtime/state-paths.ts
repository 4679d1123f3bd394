import { join } from "node:path";

/**
 * Where local mode keeps its state: `<stateDir>/store`, `/artifacts`, `/events.jsonl`, `/work`, `/receivers`
 * (webhook index, owner-only).
 */
export function statePaths(stateDir: string) {
  return {
    store: join(stateDir, "store"),
    artifacts: join(stateDir, "artifacts"),
    events: join(stateDir, "events.jsonl"),
    work: join(stateDir, "work"),
    receivers: join(stateDir, "receivers"),
  };
}
