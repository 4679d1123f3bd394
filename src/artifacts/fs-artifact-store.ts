import { createHash, randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join, relative, resolve, sep } from "node:path";
import type { ArtifactStore, StoredArtifact } from "./artifact-store.js";

/** Artifacts as files under a root folder (local mode); writes are atomic (temp file + rename). */
export class FileArtifactStore implements ArtifactStore {
  private readonly root: string;
  constructor(root: string) {
    this.root = resolve(root);
  }

  async put(path: string, data: Buffer): Promise<StoredArtifact> {
    const file = this.file(path);
    await mkdir(dirname(file), { recursive: true });
    const temp = `${file}.${randomBytes(6).toString("hex")}.tmp`;
    await writeFile(temp, data);
    await rename(temp, file);
    return { path, digest: digestOf(data), size: data.length, url: `file://${file}` };
  }

  async get(path: string, digest?: string): Promise<Buffer | undefined> {
    const data = await readFile(this.file(path)).catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") return undefined;
      throw error;
    });
    if (data && digest && digestOf(data) !== digest)
      throw new Error(`artifact ${path}: digest ${digestOf(data)} does not match the expected ${digest}`);
    return data;
  }

  async delete(path: string): Promise<void> {
    await rm(this.file(path), { force: true });
  }

  async list(prefix: string): Promise<string[]> {
    const found: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
      for (const entry of entries) {
        const full = join(dir, entry.name);
        if (entry.isDirectory()) await walk(full);
        else if (!entry.name.endsWith(".tmp")) found.push(relative(this.root, full).split(sep).join("/"));
      }
    };
    // Only the prefix's deepest folder is walked: a source's garbage collection lists its own folder, not the store.
    const folder = prefix.slice(0, prefix.lastIndexOf("/") + 1);
    await walk(folder ? this.file(folder) : this.root);
    return found.filter((p) => p.startsWith(prefix)).sort();
  }

  private file(path: string): string {
    if (path.startsWith("/") || path.split("/").includes(".."))
      throw new Error(`artifact path '${path}' must be relative and stay inside the store`);
    return join(this.root, path);
  }
}

function digestOf(data: Buffer): string {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}
