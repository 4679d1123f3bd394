import { readFileSync } from "node:fs";
import { Agent, request, type RequestOptions } from "node:https";
import { setTimeout as sleep } from "node:timers/promises";
import { KubeApiError } from "./errors.js";

/** Who the client acts as when impersonating (a tenant's service account, say). */
export interface Impersonation {
  user: string;
  groups?: string[];
}

export interface KubeClientOptions {
  /** Most requests in flight at once. @default 10 */
  maxConcurrency?: number;
  /** Acting identity; requests carry Impersonate-User/Impersonate-Group. */
  impersonate?: Impersonation;
  /** Attempts for a 429 answer (API Priority and Fairness) before giving up. @default 5 */
  maxAttempts?: number;
  /** Per-request timeout. @default 30_000 */
  timeoutMs?: number;
  /**
   * A bearer token read from this file, and read again when older than `tokenRefreshMs`, as
   * client-go does in a Pod: projected service-account tokens rotate while the process runs.
   */
  bearerTokenFile?: string;
  /** @default 60_000 */
  tokenRefreshMs?: number;
}

/** TLS and auth settings for the connection, as client-node's KubeConfig fills them in. */
export type Transport = Pick<RequestOptions, "ca" | "cert" | "key" | "rejectUnauthorized" | "servername" | "headers">;

export interface KubeRequest {
  method: "GET" | "POST" | "PATCH" | "PUT" | "DELETE";
  path: string;
  query?: Record<string, string | undefined>;
  body?: unknown;
  contentType?: string;
  accept?: string;
}

/**
 * Requests sent per HTTP method (server-side dry-runs counted apart: they write nothing), and
 * `throttled`: 429 answers that were retried. For request budgets and benchmarks.
 */
export type RequestCounts = Record<KubeRequest["method"] | "dryRun" | "throttled", number>;

/**
 * A small JSON client for the Kubernetes REST API: keep-alive connections, bounded concurrency,
 * `Retry-After`-honouring back-off on 429, request counting, and `Status` errors as KubeApiError.
 */
export class KubeClient {
  readonly counts: RequestCounts = { GET: 0, POST: 0, PATCH: 0, PUT: 0, DELETE: 0, dryRun: 0, throttled: 0 };
  readonly identity: string;
  private readonly agent: Agent;
  private readonly headers: Record<string, string | string[]>;
  private inFlight = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly maxConcurrency: number;
  private token?: { value: string; readAt: number };

  constructor(
    readonly server: string,
    private readonly transport: Transport,
    private readonly options: KubeClientOptions = {},
  ) {
    this.maxConcurrency = options.maxConcurrency ?? 10;
    this.agent = new Agent({ keepAlive: true, maxSockets: this.maxConcurrency });
    this.headers = { ...(transport.headers as Record<string, string>) };
    if (options.impersonate) {
      this.headers["Impersonate-User"] = options.impersonate.user;
      if (options.impersonate.groups?.length) this.headers["Impersonate-Group"] = options.impersonate.groups;
    }
    this.identity = options.impersonate ? `user ${options.impersonate.user}` : "the connecting identity";
  }

  /** A client for the same cluster acting as another identity. */
  impersonating(impersonate: Impersonation): KubeClient {
    return new KubeClient(this.server, this.transport, { ...this.options, impersonate });
  }

  /** Sends one request; parses JSON; throws KubeApiError for non-2xx answers. */
  async send<T>(req: KubeRequest): Promise<T> {
    const maxAttempts = this.options.maxAttempts ?? 5;
    for (let attempt = 1; ; attempt++) {
      const response = await this.withSlot(() => this.once(req));
      if (response.status === 429 && attempt < maxAttempts) {
        // APF asks us to come back later; Retry-After is in seconds.
        this.counts.throttled++;
        const seconds = Number.parseInt(response.retryAfter ?? "1", 10);
        await sleep(Math.min(Number.isFinite(seconds) ? seconds : 1, 10) * 1000);
        continue;
      }
      if (response.status >= 200 && response.status < 300) return (response.body ? JSON.parse(response.body) : {}) as T;
      throw toApiError(response.status, response.body);
    }
  }

  /** Closes idle keep-alive connections. */
  close(): void {
    this.agent.destroy();
  }

  private bearerToken(): string {
    const now = Date.now();
    if (!this.token || now - this.token.readAt >= (this.options.tokenRefreshMs ?? 60_000)) this.token = { value: readFileSync(this.options.bearerTokenFile!, "utf8").trim(), readAt: now };
    return this.token.value;
  }

  private async withSlot<T>(work: () => Promise<T>): Promise<T> {
    while (this.inFlight >= this.maxConcurrency) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.inFlight++;
    try {
      return await work();
    } finally {
      this.inFlight--;
      this.waiting.shift()?.();
    }
  }

  private once(req: KubeRequest): Promise<{ status: number; body: string; retryAfter?: string }> {
    this.counts[req.query?.dryRun ? "dryRun" : req.method]++;
    const url = new URL(req.path, this.server);
    for (const [key, value] of Object.entries(req.query ?? {})) if (value !== undefined) url.searchParams.set(key, value);
    const payload = req.body === undefined ? undefined : JSON.stringify(req.body);
    return new Promise((resolve, reject) => {
      const call = request(
        url,
        {
          method: req.method,
          agent: this.agent,
          ca: this.transport.ca,
          cert: this.transport.cert,
          key: this.transport.key,
          rejectUnauthorized: this.transport.rejectUnauthorized,
          servername: this.transport.servername,
          timeout: this.options.timeoutMs ?? 30_000,
          headers: {
            ...this.headers,
            ...(this.options.bearerTokenFile && { authorization: `Bearer ${this.bearerToken()}` }),
            accept: req.accept ?? "application/json",
            ...(payload === undefined ? {} : { "content-type": req.contentType ?? "application/json", "content-length": Buffer.byteLength(payload) }),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.on("end", () =>
            resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8"), retryAfter: res.headers["retry-after"] }),
          );
          res.on("error", reject);
        },
      );
      call.on("timeout", () => call.destroy(new Error(`${req.method} ${url.pathname} timed out`)));
      call.on("error", reject);
      call.end(payload);
    });
  }
}

function toApiError(status: number, body: string): KubeApiError {
  try {
    const parsed = JSON.parse(body) as { kind?: string; reason?: string; message?: string; details?: { causes?: KubeApiError["causes"] } };
    if (parsed.kind === "Status") return new KubeApiError(status, parsed.reason ?? "", parsed.message ?? body, parsed.details?.causes ?? []);
  } catch {
    // Not JSON: fall through with the raw text.
  }
  return new KubeApiError(status, "", body.slice(0, 512) || `HTTP ${status}`);
}
