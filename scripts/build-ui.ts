import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { AWS_SIGN_IN, INDEX_HTML, uiBundleFiles } from "../src/ui/assets.js";

// The web UI's files for the AWS deployment (infra/ui.ts uploads them): the same prebuilt bundle `sluice run` serves
// (dist/ui, rebuilt first when older than its sources), and before the app the Cognito sign-in
// (src/ui/app/aws-sign-in.ts), which adds the access token to the page's API requests.
// `tsx scripts/build-ui.ts <folder>`; the CDK app runs it when it synthesizes with the UI on.

const root = join(import.meta.dirname, "..");

export async function buildAwsUi(outDir: string): Promise<void> {
  const files = await uiBundleFiles(root);
  const app = '<script type="module" src="/assets/app.js"></script>';
  if (!INDEX_HTML.includes(app)) throw new Error(`src/ui/assets.ts's page no longer loads ${app}`);
  // Module scripts run in document order: the sign-in wraps fetch before the app's first request.
  const page = INDEX_HTML.replace(app, `<script type="module" src="/assets/${AWS_SIGN_IN}"></script>\n    ${app}`);
  await mkdir(join(outDir, "assets"), { recursive: true });
  await Promise.all([...files].map(([name, body]) => writeFile(join(outDir, "assets", name), body)));
  await writeFile(join(outDir, "index.html"), page);
}

if (import.meta.main) {
  const outDir = process.argv[2];
  if (!outDir) throw new Error("usage: tsx scripts/build-ui.ts <folder>");
  await buildAwsUi(outDir);
}
