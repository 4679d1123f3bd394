import { createRequire } from "node:module";

// Bundles get the version inlined by scripts/build.ts; from source it comes from package.json.
declare const SLUICE_VERSION: string | undefined;

export const version: string =
  typeof SLUICE_VERSION === "string"
    ? SLUICE_VERSION
    : (createRequire(import.meta.url)("../package.json") as { version: string }).version;
