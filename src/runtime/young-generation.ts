import { getHeapSpaceStatistics, setFlagsFromString } from "node:v8";

/**
 * Young generation (V8's new space) that `sluice run` lets V8 grow to, in MiB. V8 doubles a busy
 * process's new space up to 32 MiB here (64 MiB of RSS with both semi-spaces), so a fleet's
 * steady trickle of short-lived JSON pushed the peak RSS up by 40–100 MiB; at 8 MiB, scavenges
 * come more often but cost no more CPU in the fleet benchmark (README, fleet memory).
 */
export const YOUNG_GENERATION_MIB = 8;

/**
 * Keeps the new space at most `maxMiB` for the rest of the process. `--max-semi-space-size` is read
 * only when the heap is set up, which a process started as `npx sluice run` cannot pass; the growth
 * factor is read at every growth, so it is switched to 1 (no growth) whenever doubling would pass
 * the cap, and back to 2 when V8 has shrunk the space below that (it does when allocation slows).
 * Checked every `everyMs` (a few microseconds each) for as long as the process runs; V8 grows the space at most once
 * per scavenge, so only a synchronous stretch long enough for several scavenges between two checks can let it grow
 * past the cap (until V8 shrinks it again): the cap bounds the steady state, not every burst.
 */
export function capYoungGeneration(maxMiB = YOUNG_GENERATION_MIB, everyMs = 500): void {
  let factor = 0;
  const check = () => {
    const newSpace = getHeapSpaceStatistics().find((space) => space.space_name === "new_space");
    if (!newSpace) return;
    const next = (newSpace.space_size / 1024 / 1024) * 2 <= maxMiB ? 2 : 1;
    if (next !== factor) setFlagsFromString(`--semi-space-growth-factor=${(factor = next)}`);
  };
  check();
  setInterval(check, everyMs).unref();
}
