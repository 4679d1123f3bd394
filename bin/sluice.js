#!/usr/bin/env node
// Runs the CLI from its TypeScript source through tsx, so `npx sluice` works right after `npm ci`.
// `npm run build` produces the bundled dist/cli/sluice.mjs for distribution.
import { register } from "tsx/esm/api";

register();
await import("../src/cli/main.ts");
