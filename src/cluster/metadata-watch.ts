import { setTimeout as sleep } from "node:timers/promises";
import type { Clock } from "../ports/clock.js";
import type { Log } from "../ports/log.js";
import { isNotFound, KubeApiError } from "./errors.js";
import type { KubeClient } from "./kube-client.js";

// Objects' metadata only, as controller-runtime's WatchesMetadata asks: a Secret's data never enters the process.
const AS_METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1";
const AS_METADATA = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1";
const PAGE_SIZE = "500";

/** An object of the watched collection. */
export interface WatchedRef {
  namespace: string;
  name: string;
}

export interface MetadataWatchOptions {
  client: KubeClient;
  /** A collection across namespaces, e.g. `/api/v1/configmaps`. */
  path: string;
  /** Server-side label selector ("" selects everything). */
  labelSelector: string;
  /**
   * Told of each selected object created, changed (a new resourceVersion, as controller-runtime's
   * ResourceVersionChangedPredicate) or deleted after the first list; not of an object that merely stopped matching
   * the selector (nor of what the first list finds: whoever uses it reads it anyway).
   */
  onChange(ref: WatchedRef): Promise<void>;
  log: Log;
  clock: Clock;
  /** How long the server keeps one watch open, in seconds. @default 5 to 10 minutes at random, as client-go */
  watchSeconds?: () => number;
  /** Wait after the first failure in a row, doubled with each next one up to `maxBackoffMs`. @default 1_000 */
  backoffMs?: number;
  /** @default 30_000 */
  maxBackoffMs?: number;
}

interface Metadata {
  metadata?: { name?: unknown; namespace?: unknown; resourceVersion?: unknown };
}
interface MetadataList {
  kind?: string;
  metadata?: { resourceVersion?: string; continue?: string };
  items?: Metadata[];
}
interface WatchEvent {
  type?: string;
  object?: Metadata & { code?: number; reason?: string; message?: string };
}

/**
 * A list-then-watch of one collection's metadata, as client-go's reflector keeps one: resumes from the last
 * resourceVersion seen (events and bookmarks) when the server ends a watch, lists again when that version has
 * expired (410 Gone) and tells what changed meanwhile, and backs off while the server fails or cannot be reached.
 */
export class MetadataWatch {
  /** `namespace/name` → resourceVersion of each selected object: what a new list is compared with. */
  private known = new Map<string, string>();
  private resourceVersion?: string;
  private listed = false;
  private readonly stopping = new AbortController();
  private loop?: Promise<void>;
  /** Changes are told one at a time, in order, while the stream goes on. */
  private telling: Promise<void> = Promise.resolve();

  constructor(private readonly options: MetadataWatchOptions) {}

  /** Lists what is selected, then watches in the background; resolves once the first list answered or failed. */
  async start(): Promise<void> {
    let failures = 0;
    try {
      await this.list();
    } catch (error) {
      failures = this.failed(error, 0);
    }
    // From now on every list tells what it finds changed; after a failed first one, that is everything it finds.
    this.listed = true;
    this.loop = this.run(failures);
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await this.loop;
    await this.telling;
  }

  private async run(failures: number): Promise<void> {
    const { signal } = this.stopping;
    while (!signal.aborted) {
      if (failures > 0) {
        const backoff = Math.min(
          (this.options.backoffMs ?? 1_000) * 2 ** (failures - 1),
          this.options.maxBackoffMs ?? 30_000,
        );
        await sleep(backoff, undefined, { signal }).catch(() => undefined);
        if (signal.aborted) return;
      }
      const relisting = this.resourceVersion === undefined;
      try {
        if (relisting) await this.list();
        const started = this.options.clock.now();
        await this.watch();
        // A server that ends every watch at once is failing, not expiring watches: back off from it too.
        failures = this.options.clock.now() - started < 1_000 ? failures + 1 : 0;
      } catch (error) {
        if (signal.aborted) return;
        if (error instanceof KubeApiError && error.status === 410) {
          this.options.log.info({ collection: this.options.path }, "watch expired: listing again");
          this.resourceVersion = undefined;
          // Expired again right after a fresh list: the server is failing, so this is no reason to hurry.
          failures = relisting ? failures + 1 : 0;
        } else failures = this.failed(error, failures);
      }
    }
  }

  private failed(error: unknown, failures: number): number {
    this.options.log.warn({ collection: this.options.path, err: error, failures: failures + 1 }, "watch failed");
    return failures + 1;
  }

  /** One consistent list, page by page; after the first, tells what differs from what was known. */
  private async list(): Promise<void> {
    const found = new Map<string, string>();
    let token: string | undefined;
    let version: string | undefined;
    do {
      const page = await this.options.client
        .send<MetadataList>({
          method: "GET",
          path: this.options.path,
          query: { labelSelector: this.options.labelSelector || undefined, limit: PAGE_SIZE, continue: token },
          accept: AS_METADATA_LIST,
        })
        .catch((error: unknown) => {
          // JSON.parse quotes the text it could not read, and an object's annotations may hold a Secret's data.
          throw error instanceof SyntaxError
            ? new Error(`list ${this.options.path}: an answer that is not JSON`)
            : error;
        });
      if (page.kind !== "PartialObjectMetadataList")
        throw new Error(`list ${this.options.path}: the server answered ${page.kind} instead of metadata only`);
      for (const item of page.items ?? []) {
        const { id, resourceVersion } = identify(item, this.options.path);
        found.set(id, resourceVersion);
      }
      token = page.metadata?.continue || undefined;
      version = page.metadata?.resourceVersion;
    } while (token);
    if (!version) throw new Error(`list ${this.options.path}: the answer has no resourceVersion`);
    const before = this.known;
    this.known = found;
    this.resourceVersion = version;
    if (!this.listed) return;
    for (const [id, resourceVersion] of found) if (before.get(id) !== resourceVersion) this.tell(id);
    for (const id of before.keys()) if (!found.has(id)) this.tell(id, { unlessPresent: true });
  }

  private watch(): Promise<void> {
    const seconds = Math.round(this.options.watchSeconds?.() ?? 300 * (1 + Math.random()));
    return this.options.client.watch(
      {
        path: this.options.path,
        query: {
          watch: "1",
          labelSelector: this.options.labelSelector || undefined,
          resourceVersion: this.resourceVersion,
          allowWatchBookmarks: "true",
          timeoutSeconds: String(seconds),
        },
        accept: AS_METADATA,
      },
      (line) => this.receive(line),
      // Bookmarks come about once a minute and the server ends the watch after `seconds`: longer silence is a dead link.
      { signal: this.stopping.signal, idleMs: (seconds + 60) * 1000 },
    );
  }

  private receive(line: string): void {
    let event: WatchEvent;
    try {
      event = JSON.parse(line) as WatchEvent;
    } catch {
      throw new Error(`watch ${this.options.path}: an event that is not JSON`);
    }
    if (event.type === "ERROR") {
      const status = event.object ?? {};
      throw new KubeApiError(status.code ?? 500, status.reason ?? "", status.message ?? "watch error");
    }
    if (event.type === "BOOKMARK") {
      // A bookmark's object carries its resourceVersion and nothing else.
      const resourceVersion = event.object?.metadata?.resourceVersion;
      if (typeof resourceVersion !== "string")
        throw new Error(`watch ${this.options.path}: a bookmark without resourceVersion`);
      this.resourceVersion = resourceVersion;
      return;
    }
    const { id, resourceVersion } = identify(event.object, this.options.path);
    if (event.type !== "ADDED" && event.type !== "MODIFIED" && event.type !== "DELETED")
      throw new Error(`watch ${this.options.path}: an event of unknown type ${JSON.stringify(event.type)}`);
    this.resourceVersion = resourceVersion;
    if (event.type === "DELETED") {
      this.known.delete(id);
      this.tell(id, { unlessPresent: true });
    } else if (this.known.get(id) !== resourceVersion) {
      this.known.set(id, resourceVersion);
      this.tell(id);
    }
  }

  /**
   * Tells of a change. `unlessPresent`: the object left the selection, which the server reports as a deletion
   * whether it was deleted or only relabelled; Flux's label predicate sees a relabelled object's new labels and
   * ignores it, so it is told only when it is gone.
   */
  private tell(id: string, options: { unlessPresent?: boolean } = {}): void {
    const [namespace, name] = id.split("/") as [string, string];
    this.telling = this.telling.then(async () => {
      try {
        if (options.unlessPresent && (await this.present(namespace, name))) return;
        await this.options.onChange({ namespace, name });
      } catch (error) {
        this.options.log.error(
          { collection: this.options.path, namespace, name, err: error },
          "watch: telling a change failed",
        );
      }
    });
  }

  private async present(namespace: string, name: string): Promise<boolean> {
    const { path } = this.options;
    const cut = path.lastIndexOf("/");
    const at = (part: string) => encodeURIComponent(part);
    try {
      await this.options.client.send({
        method: "GET",
        path: `${path.slice(0, cut)}/namespaces/${at(namespace)}${path.slice(cut)}/${at(name)}`,
        accept: AS_METADATA,
      });
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
  }
}

/** The `namespace/name` and resourceVersion of a listed or watched object, checked: the answer is not trusted blindly. */
function identify(object: Metadata | undefined, path: string): { id: string; resourceVersion: string } {
  const { name, namespace, resourceVersion } = object?.metadata ?? {};
  if (typeof name !== "string" || typeof namespace !== "string" || typeof resourceVersion !== "string")
    throw new Error(`${path}: an object without name, namespace or resourceVersion`);
  return { id: `${namespace}/${name}`, resourceVersion };
}
