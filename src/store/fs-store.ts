import { createHash, randomBytes } from "node:crypto";
import { watch, type FSWatcher, type Stats } from "node:fs";
import { mkdir, open, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { KubeObject } from "../apply/object.js";
import { ConflictError, type Store, type Stored } from "./store.js";
import { formatKey, keyOf, type ObjectKey } from "../api/object-key.js";

const LOCK_STALE_MS = 10_000;
/** What a kind, namespace or name may look like as a path segment: nothing that walks out of the Store. */
const VALID_PART = /^[A-Za-z0-9][A-Za-z0-9.-]*$/;

/**
 * The Store as JSON files, `<root>/<kind>/<namespace>/<name>.json`, for `sluice run` and the CLI —
 * which may write at the same time from different processes. Each write takes an O_EXCL lock file,
 * compares the version (the sha256 of the file's bytes) and renames a temp file into place.
 */
export class FileStore implements Store {
  constructor(private readonly root: string) {}

  async get(key: ObjectKey): Promise<Stored | undefined> {
    const bytes = await readFile(this.path(key)).catch(notFoundAsUndefined);
    return bytes && { object: JSON.parse(bytes.toString("utf8")) as KubeObject, version: versionOf(bytes) };
  }

  async list(filter: { kind?: string; namespace?: string } = {}): Promise<Stored[]> {
    const kinds = filter.kind ? [filter.kind] : await names(this.root);
    const found: Stored[] = [];
    for (const kind of kinds) {
      const namespaces = filter.namespace ? [filter.namespace] : await names(join(this.root, kind));
      for (const namespace of namespaces) {
        for (const file of await names(join(this.root, kind, namespace))) {
          if (!file.endsWith(".json")) continue;
          const stored = await this.get({ kind, namespace, name: file.slice(0, -".json".length) });
          if (stored) found.push(stored);
        }
      }
    }
    return found.sort((a, b) => formatKey(keyOf(a.object)).localeCompare(formatKey(keyOf(b.object))));
  }

  /**
   * Every stored object's key with its file's signature (inode, modification time, size; a write renames a new file
   * into place, so each write changes it), sorted by key: a watcher re-reads only the files whose signature changed.
   */
  async signatures(): Promise<{ key: ObjectKey; signature: string }[]> {
    const found: { key: ObjectKey; signature: string }[] = [];
    for (const kind of await names(this.root))
      for (const namespace of await names(join(this.root, kind)))
        for (const file of await names(join(this.root, kind, namespace))) {
          if (!file.endsWith(".json")) continue;
          const key = { kind, namespace, name: file.slice(0, -".json".length) };
          const info = await stat(this.path(key)).catch(notFoundAsUndefined);
          if (info) found.push({ key, signature: signatureOf(info) });
        }
    return found.sort((a, b) => formatKey(a.key).localeCompare(formatKey(b.key)));
  }

  /** The signatures of some objects (those a change notice named); a missing file has none. */
  async signaturesOf(keys: ObjectKey[]): Promise<{ key: ObjectKey; signature: string | undefined }[]> {
    return Promise.all(
      keys.map(async (key) => {
        const info = await stat(this.path(key)).catch(notFoundAsUndefined);
        return { key, signature: info && signatureOf(info) };
      }),
    );
  }

  /**
   * Calls `onChange` with the key of each object file the kernel says was written, renamed or removed (inotify,
   * FSEvents), whoever wrote it, so a watcher need not stat every file each second. Each folder is watched on its
   * own: Node's recursive watch loses a file once a write has renamed another over it. Undefined where the Store
   * cannot be watched; `onLost` when watching fails later (everything is closed). Notices can still be missed (a
   * file written in a new folder before its watch is set up is reported when the watch starts, but a lost kernel
   * queue is not), so a watcher still compares every file now and then.
   */
  watchChanges(onChange: (key: ObjectKey) => void, onLost: () => void): { close(): void } | undefined {
    const watchers = new Map<string, FSWatcher>();
    const close = () => {
      for (const watcher of watchers.values()) watcher.close();
      watchers.clear();
    };
    const lose = () => {
      if (watchers.size === 0) return;
      close();
      onLost();
    };
    // depth 0: the root (kinds' folders), 1: a kind's folder (namespaces' folders), 2: a namespace's (objects).
    const noticed = (dir: string, depth: number, name: string) => {
      if (depth === 2) {
        if (!name.endsWith(".json")) return;
        const [kind, namespace] = relative(this.root, dir).split(sep) as [string, string];
        const key = { kind, namespace, name: name.slice(0, -".json".length) };
        if (VALID_PART.test(key.name)) onChange(key);
      } else if (VALID_PART.test(name)) {
        const path = join(dir, name);
        void stat(path)
          .then((info) => info.isDirectory() && follow(path, depth + 1))
          .catch(() => undefined);
      }
    };
    const follow = (dir: string, depth: number) => {
      if (watchers.has(dir)) return;
      try {
        const watcher = watch(dir, { persistent: false }, (_event, name) => name && noticed(dir, depth, `${name}`));
        // A folder removed ends its own watch; anything else wrong ends them all.
        watcher.on("error", (error: NodeJS.ErrnoException) => {
          if (dir !== this.root && ["ENOENT", "EPERM"].includes(error.code ?? "")) watchers.delete(dir);
          else lose();
        });
        watchers.set(dir, watcher);
      } catch (error) {
        if (dir === this.root) throw error;
        if ((error as NodeJS.ErrnoException).code !== "ENOENT") lose();
        return;
      }
      // What the folder already holds was written before its watch began.
      void names(dir).then((found) => found.forEach((name) => noticed(dir, depth, name)));
    };
    try {
      follow(this.root, 0);
    } catch {
      return undefined;
    }
    return { close };
  }

  async create(object: KubeObject): Promise<Stored> {
    return this.write(keyOf(object), object, null);
  }

  async update(object: KubeObject, version: string): Promise<Stored> {
    return this.write(keyOf(object), object, version);
  }

  async delete(key: ObjectKey, version?: string): Promise<void> {
    await this.locked(key, async () => {
      const current = await readFile(this.path(key)).catch(notFoundAsUndefined);
      if (!current) return;
      if (version !== undefined && versionOf(current) !== version) throw new ConflictError(key);
      await rm(this.path(key));
    });
  }

  /** `expected` null: must not exist; a string: must be at that version. */
  private async write(key: ObjectKey, object: KubeObject, expected: string | null): Promise<Stored> {
    return this.locked(key, async () => {
      const current = await readFile(this.path(key)).catch(notFoundAsUndefined);
      if (expected === null ? current !== undefined : !current || versionOf(current) !== expected)
        throw new ConflictError(key);
      const bytes = Buffer.from(`${JSON.stringify(object, null, 2)}\n`);
      const temp = `${this.path(key)}.${randomBytes(6).toString("hex")}.tmp`;
      await writeFully(temp, bytes);
      await rename(temp, this.path(key));
      return { object: structuredClone(object), version: versionOf(bytes) };
    });
  }

  private async locked<T>(key: ObjectKey, work: () => Promise<T>): Promise<T> {
    await mkdir(join(this.root, key.kind, key.namespace), { recursive: true });
    const lock = `${this.path(key)}.lock`;
    for (let attempt = 0; ; attempt++) {
      try {
        await (await open(lock, "wx")).close();
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
        // A holder that crashed leaves its lock behind; past the stale age it is taken over.
        const age = Date.now() - ((await stat(lock).catch(() => undefined))?.mtimeMs ?? Date.now());
        if (age > LOCK_STALE_MS) await rm(lock, { force: true });
        else await sleep(Math.min(2 + attempt, 20));
      }
    }
    try {
      return await work();
    } finally {
      await rm(lock, { force: true });
    }
  }

  private path(key: ObjectKey): string {
    for (const part of [key.kind, key.namespace, key.name]) {
      if (!VALID_PART.test(part)) throw new Error(`object key ${formatKey(key)}: '${part}' is not a valid name`);
    }
    return join(this.root, key.kind, key.namespace, `${key.name}.json`);
  }
}

function versionOf(bytes: Buffer): string {
  return createHash("sha256").update(bytes).digest("hex").slice(0, 16);
}

/** A file's identity as a watcher compares it: a write renames a new file into place, so each write changes it. */
function signatureOf(info: Stats): string {
  return `${info.ino}:${info.mtimeMs}:${info.size}`;
}

function notFoundAsUndefined(error: NodeJS.ErrnoException): undefined {
  if (error.code === "ENOENT") return undefined;
  throw error;
}

async function names(dir: string): Promise<string[]> {
  return (await readdir(dir).catch(notFoundAsUndefined)) ?? [];
}

async function writeFully(path: string, bytes: Buffer): Promise<void> {
  const handle = await open(path, "w");
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
}
