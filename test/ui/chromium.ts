import { existsSync } from "node:fs";
import { mkdir, mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext } from "playwright-core";

// Debian's chromium (apt package `chromium`), driven by playwright-core: no browser is ever downloaded. Each launch
// gets a fresh profile, and the flags keep it off the network except for the pages it is sent to.

export const CHROMIUM = "/usr/bin/chromium";

const FLAGS = [
  "--headless",
  "--no-sandbox", // the tests run as root, where Chromium's sandbox refuses to start
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** A browser context with its own user data dir; close it to stop Chromium. */
export async function launchChromium(options: { dark?: boolean; bypassCSP?: boolean } = {}): Promise<BrowserContext> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (see .ci/run)`);
  const profile = await mkdtemp(join(tmpdir(), "sluice-chromium-"));
  return chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    args: FLAGS,
    headless: true,
    viewport: { width: 1400, height: 900 },
    colorScheme: options.dark ? "dark" : "light",
    bypassCSP: options.bypassCSP ?? false,
  });
}

/** Where the browser tests leave their screenshots (gitignored), for a reviewer to look at. */
export async function screenshotDir(): Promise<string> {
  const dir = join(import.meta.dirname, "screenshots");
  await mkdir(dir, { recursive: true });
  return dir;
}
