/**
 * `tsx test/env/helm-cli.ts <helm args>` runs the project's helm (src/render/tools.ts) with isolated
 * config, cache and data folders, for the install scripts, which cannot import charts.ts.
 */
import { testHelm } from "./charts.js";

const { stdout } = await testHelm(process.argv.slice(2));
process.stdout.write(stdout);
