/** A running test-bed component: what tests need to reach it, its version, and how to stop it. */
export interface Running<Info> {
  info: Info;
  stop(): Promise<void>;
}

/** Where a component keeps its data and logs for this test-bed run. */
export interface RunContext {
  /** A fresh folder for this run (removed on stop). */
  runDir: string;
  /** Folder for `<component>.log` files (kept after a failed run for debugging). */
  logDir: string;
  /** The per-user cache (`~/.cache/sluice`): built binaries, venvs, extracted tools. */
  cacheDir: string;
}
