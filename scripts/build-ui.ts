import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { build } from "esbuild";
import { appBuildOptions, INDEX_HTML } from "../src/ui/assets.js";

// The web UI's files for the AWS deployment (infra/ui.ts uploads them): the app `sluice run` serves, and before it
// the Cognito sign-in (src/ui/app/aws-sign-in.ts), which adds the access token to the page's API requests.
// `tsx scripts/build-ui.ts <folder>`; the CDK app runs it when it synthesizes with the UI on.

const root = join(import.meta.dirname, "..");

export async function buildAwsUi(outDir: string): Promise<void> {
  const options = appBuildOptions(root);
  await build({
    ...options,
    entryPoints: { ...(options.entryPoints as Record<string, string>), "sign-in": "src/ui/app/aws-sign-in.ts" },
    outdir: join(outDir, "assets"),
  });
  const app = '<script type="module" src="/assets/app.js"></script>';
  if (!INDEX_HTML.includes(app)) throw new Error(`src/ui/assets.ts's page no longer loads ${app}`);
  // Module scripts run in document order: the sign-in wraps fetch before the app's first request.
  const page = INDEX_HTML.replace(app, `<script type="module" src="/assets/sign-in.js"></script>\n    ${app}`);
  await mkdir(outDir, { recursive: true });
  await writeFile(join(outDir, "index.html"), page);
}

if (import.meta.main) {
  const outDir = process.argv[2];
  if (!outDir) throw new Error("usage: tsx scripts/build-ui.ts <folder>");
  await buildAwsUi(outDir);
}
