import { randomBytes } from "node:crypto";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { dirname } from "node:path";

/** Writes `data` as `file`, aside first and then renamed: a reader sees the old file or the new one, never half. */
export async function replaceFile(file: string, data: Buffer): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const aside = `${file}.${randomBytes(6).toString("hex")}`;
  try {
    await writeFile(aside, data);
    await rename(aside, file);
  } finally {
    await rm(aside, { force: true });
  }
}
