import { setTimeout as sleep } from "node:timers/promises";

/** Time as the core sees it: passed in, so tests can choose. */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

/** The real clock, for entry points to pass down. */
export const systemClock: Clock = { now: () => Date.now(), sleep: (ms) => sleep(ms) };
