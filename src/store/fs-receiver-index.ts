import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import {
  digestOfPath,
  parseReceiverRecord,
  type ReceiverIndex,
  type ReceiverRecord,
} from "../notify/receiver-index.js";

/**
 * Local mode's receiver index: `<dir>/<digest>.json`, readable by the owner only (each record holds
 * a Receiver's token). Written to a temp file and renamed, so the webhook never reads half a record.
 */
export class FileReceiverIndex implements ReceiverIndex {
  constructor(private readonly dir: string) {}

  async get(digest: string): Promise<ReceiverRecord | undefined> {
    const text = await readFile(this.path(digest), "utf8").catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") return undefined;
      throw error;
    });
    return text === undefined ? undefined : parseReceiverRecord(text, this.path(digest));
  }

  async put(digest: string, record: ReceiverRecord): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const temp = `${this.path(digest)}.${randomBytes(6).toString("hex")}.tmp`;
    await writeFile(temp, JSON.stringify(record), { mode: 0o600 });
    await rename(temp, this.path(digest));
  }

  async delete(digest: string): Promise<void> {
    await rm(this.path(digest), { force: true });
  }

  private path(digest: string): string {
    if (!digestOfPath(`/hook/${digest}`))
      throw new Error(`receiver index: '${digest.slice(0, 80)}' is not a webhook path digest`);
    return join(this.dir, `${digest}.json`);
  }
}
