import { readFileSync } from "node:fs";
import { Agent, request, type RequestOptions } from "node:https";
import { setTimeout as sleep } from "node:timers/promises";
import { KubeApiError } from "./errors.js";
import { Reachability } from "./reachability.js";

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
  /** Per-request timeout: the longest the server may stay silent. @default 30_000 */
  timeoutMs?: number;
  /**
   * Longest TCP connect plus TLS handshake of a new connection (client-go allows 30 s + 10 s; an API server answers
   * in milliseconds). @default 5_000
   */
  connectTimeoutMs?: number;
  /**
   * How long a failure to connect is remembered; meanwhile requests fail at once with ClusterUnreachableError.
   * @default 30_000
   */
  unreachableMemoryMs?: number;
  /**
   * A bearer token read from this file, and read again when older than `tokenRefreshMs`, as
   * client-go does in a Pod: projected service-account tokens rotate while the process runs.
   */
  bearerTokenFile?: string;
  /**
   * A bearer token asked for before every request (the source caches it): an EKS token lives 15
   * minutes, while a Lambda container and its client may live for hours.
   */
  bearerTokenSource?: () => Promise<string>;
  /** @default 60_000 */
  tokenRefreshMs?: number;
}

/** TLS and auth settings for the connection, as a kubeconfig gives them (kubeconfig.ts). */
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
 * Connection failures that say the endpoint is not there (as opposed to a TLS verification failure, a configuration
 * error).
 */
const UNREACHABLE_CODES = new Set([
  ...["ECONNREFUSED", "ECONNRESET", "ECONNABORTED", "EHOSTUNREACH", "ENETUNREACH", "EHOSTDOWN", "ETIMEDOUT"],
  ...["ENOTFOUND", "EAI_AGAIN"], // the name does not resolve (any more)
]);

/** Longest watch event taken (an object's metadata is far smaller; this bounds a stream that never breaks lines). */
const MAX_WATCH_LINE = 16 * 1024 * 1024;

/** Our own connect or response deadline passed. */
class DeadlineError extends Error {
  override name = "DeadlineError";
}

/**
 * A small JSON client for the Kubernetes REST API: keep-alive connections, bounded concurrency,
 * `Retry-After`-honouring back-off on 429, request counting, `Status` errors as KubeApiError, and
 * bounded connects with a short memory of an unreachable endpoint (see Reachability).
 */
export class KubeClient {
  readonly counts: RequestCounts = { GET: 0, POST: 0, PATCH: 0, PUT: 0, DELETE: 0, dryRun: 0, throttled: 0 };
  readonly identity: string;
  /** Whether the endpoint answers; shared with the clients for other identities made by `impersonating`. */
  readonly reachability: Reachability;
  private readonly agent: Agent;
  /** Watches hold their connection for minutes: kept apart from the pool requests share. */
  private readonly streams = new Agent({ keepAlive: false });
  private readonly headers: Record<string, string | string[]>;
  private inFlight = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly maxConcurrency: number;
  private token?: { value: string; readAt: number };

  constructor(
    readonly server: string,
    private readonly transport: Transport,
    private readonly options: KubeClientOptions = {},
    reachability?: Reachability,
  ) {
    this.reachability =
      reachability ??
      new Reachability(server, { memoryMs: options.unreachableMemoryMs, probeTimeoutMs: this.connectTimeoutMs });
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
    return new KubeClient(this.server, this.transport, { ...this.options, impersonate }, this.reachability);
  }

  /**
   * Resolves once the server has answered, now or before: one probe (`GET /version`, uncounted) at a
   * time, awaited until `graceMs` after it started. Throws ClusterUnreachableError or, still connecting,
   * ClusterConnectingError.
   * The grace bounds what a dead cluster's first contact costs each worker; a live API server answers a first
   * TLS handshake and GET well within it, even across regions.
   */
  reachable(graceMs = 500): Promise<void> {
    return this.reachability.ready(
      () => this.withSlot(() => this.exchange({ method: "GET", path: "/version" })),
      graceMs,
    );
  }

  /** Sends one request; parses JSON; throws KubeApiError for non-2xx answers. */
  async send<T>(req: KubeRequest): Promise<T> {
    const maxAttempts = this.options.maxAttempts ?? 5;
    for (let attempt = 1; ; attempt++) {
      this.reachability.check();
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
    this.streams.destroy();
  }

  /**
   * A watch (a GET with `watch=1`): hands each line of the answer, one JSON event, to `onLine` as it arrives.
   * Resolves when the server ends the stream (its `timeoutSeconds` passed); rejects with KubeApiError on a non-2xx
   * answer, when the connection breaks or stays silent for `idleMs`, when `onLine` throws, or when `signal` aborts.
   * Outside the concurrency bound, on a connection of its own.
   */
  async watch(
    req: Pick<KubeRequest, "path" | "query" | "accept">,
    onLine: (line: string) => void,
    options: { signal: AbortSignal; idleMs: number },
  ): Promise<void> {
    this.reachability.check();
    this.counts.GET++;
    const token = this.options.bearerTokenSource && (await this.options.bearerTokenSource());
    return new Promise((resolve, reject) => {
      const call = request(this.urlOf(req), {
        ...this.requestOptions({ ...req, method: "GET" }, token),
        agent: this.streams,
        timeout: options.idleMs,
        signal: options.signal,
      });
      call.on("response", (res) => {
        res.setEncoding("utf8");
        const ok = res.statusCode !== undefined && res.statusCode >= 200 && res.statusCode < 300;
        let pending = "";
        res.on("data", (chunk: string) => {
          pending += chunk;
          try {
            for (let end = pending.indexOf("\n"); ok && end >= 0; end = pending.indexOf("\n")) {
              const line = pending.slice(0, end);
              pending = pending.slice(end + 1);
              if (line.trim()) onLine(line);
            }
            if (pending.length > MAX_WATCH_LINE) throw new Error(`watch ${req.path}: a line over 16 MiB`);
          } catch (error) {
            reject(error as Error); // before destroy, whose own error would otherwise win
            call.destroy(error as Error);
          }
        });
        res.on("end", () => (ok ? resolve() : reject(toApiError(res.statusCode ?? 0, pending))));
        res.on("error", reject);
      });
      call.on("timeout", () =>
        call.destroy(new DeadlineError(`watch ${req.path}: silent for ${options.idleMs / 1000}s`)),
      );
      call.on("error", reject);
      call.end();
    });
  }

  private bearerToken(): string {
    const now = Date.now();
    if (!this.token || now - this.token.readAt >= (this.options.tokenRefreshMs ?? 60_000))
      this.token = { value: readFileSync(this.options.bearerTokenFile!, "utf8").trim(), readAt: now };
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

  private get connectTimeoutMs(): number {
    return this.options.connectTimeoutMs ?? 5_000;
  }

  private once(req: KubeRequest): Promise<{ status: number; body: string; retryAfter?: string }> {
    // Requests queued for a slot while the endpoint was found dead fail here instead of each waiting for a timeout.
    this.reachability.check();
    this.counts[req.query?.dryRun ? "dryRun" : req.method]++;
    return this.exchange(req);
  }

  /** One HTTP exchange; records whether the endpoint answered or could not be reached. */
  private async exchange(req: KubeRequest): Promise<{ status: number; body: string; retryAfter?: string }> {
    const connection = { established: false };
    try {
      const token = this.options.bearerTokenSource && (await this.options.bearerTokenSource());
      const response = await this.transfer(req, connection, token);
      this.reachability.answered();
      return response;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? "";
      const notConnected = !connection.established && UNREACHABLE_CODES.has(code);
      if (error instanceof DeadlineError || notConnected) this.reachability.failed((error as Error).message);
      throw error;
    }
  }

  private urlOf(req: Pick<KubeRequest, "path" | "query">): URL {
    const url = new URL(req.path, this.server);
    for (const [key, value] of Object.entries(req.query ?? {}))
      if (value !== undefined) url.searchParams.set(key, value);
    return url;
  }

  /** TLS and headers of a request (identity, auth, content type); the caller adds agent and timeout. */
  private requestOptions(req: Omit<KubeRequest, "body">, token?: string, payload?: string): RequestOptions {
    return {
      method: req.method,
      ca: this.transport.ca,
      cert: this.transport.cert,
      key: this.transport.key,
      rejectUnauthorized: this.transport.rejectUnauthorized,
      servername: this.transport.servername,
      headers: {
        ...this.headers,
        ...(this.options.bearerTokenFile && { authorization: `Bearer ${this.bearerToken()}` }),
        ...(token && { authorization: `Bearer ${token}` }),
        accept: req.accept ?? "application/json",
        ...(payload === undefined
          ? {}
          : { "content-type": req.contentType ?? "application/json", "content-length": Buffer.byteLength(payload) }),
      },
    };
  }

  private transfer(
    req: KubeRequest,
    connection: { established: boolean },
    token?: string,
  ): Promise<{ status: number; body: string; retryAfter?: string }> {
    const url = this.urlOf(req);
    const payload = req.body === undefined ? undefined : JSON.stringify(req.body);
    return new Promise((resolve, reject) => {
      const call = request(
        url,
        { ...this.requestOptions(req, token, payload), agent: this.agent, timeout: this.options.timeoutMs ?? 30_000 },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.on("end", () =>
            resolve({
              status: res.statusCode ?? 0,
              body: Buffer.concat(chunks).toString("utf8"),
              retryAfter: res.headers["retry-after"],
            }),
          );
          res.on("error", reject);
        },
      );
      call.on("socket", (socket) => {
        if (call.reusedSocket) {
          connection.established = true;
          return;
        }
        // The request timeout is an idle timeout; a blackholed address or a server that accepts and never
        // speaks TLS must not hold a worker that long.
        const deadline = setTimeout(
          () => call.destroy(new DeadlineError(`no TLS handshake within ${this.connectTimeoutMs / 1000}s`)),
          this.connectTimeoutMs,
        );
        socket.once("secureConnect", () => {
          connection.established = true;
          clearTimeout(deadline);
        });
        socket.once("close", () => clearTimeout(deadline));
      });
      const silence = `${req.method} ${url.pathname}: no response within ${(this.options.timeoutMs ?? 30_000) / 1000}s`;
      call.on("timeout", () => call.destroy(new DeadlineError(silence)));
      call.on("error", reject);
      call.end(payload);
    });
  }
}

function toApiError(status: number, body: string): KubeApiError {
  try {
    const parsed = JSON.parse(body) as {
      kind?: string;
      reason?: string;
      message?: string;
      details?: { causes?: KubeApiError["causes"] };
    };
    if (parsed.kind === "Status")
      return new KubeApiError(status, parsed.reason ?? "", parsed.message ?? body, parsed.details?.causes ?? []);
  } catch {
    // Not JSON: fall through with the raw text.
  }
  return new KubeApiError(status, "", body.slice(0, 512) || `HTTP ${status}`);
}
