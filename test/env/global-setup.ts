import type { TestProject } from "vitest/node";
import { onlyFromEnv, startTestbed, type TestbedInfo } from "./testbed.js";

declare module "vitest" {
  export interface ProvidedContext {
    testbed: TestbedInfo;
  }
}

/** Vitest global setup: one test bed for the whole run, stopped after the last test file. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const testbed = await startTestbed({
    only: onlyFromEnv(process.env.SLUICE_TESTBED),
    onProgress: (line) => console.log(`[testbed] ${line}`),
  });
  console.log(`[testbed] up in ${testbed.startupSeconds.toFixed(1)} s (logs: ${testbed.logDir})`);
  project.provide("testbed", testbed.info);
  return () => testbed.stop();
}
