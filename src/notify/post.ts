import type { Clock } from "../ports/clock.js";
import type { HttpProxy } from "../sources/http-proxy.js";
import { RefusedAddressError, type NetworkPolicy } from "../sources/network-guard.js";
import { sourceHttpClient } from "../sources/source-http.js";
import type { ProviderRequest } from "./payloads.js";

// One notification's POST, retried as Flux's notifier client retries it (hashicorp/go-retryablehttp
// with RetryMax 4, RetryWaitMin 2s, RetryWaitMax 30s): connection errors, 429 and 5xx but 501 are
// retried (not an untrusted certificate or a refused address), waiting 2s, 4s, 8s, 16s, or what a 429/503's Retry-After asks; the Provider's timeout
// bounds the whole, retries included.

/** How a POST is sent: the network guard, TLS material, the deadline. */
export interface PostOptions {
  network: NetworkPolicy;
  caPem?: string;
  clientCert?: { certPem: string; keyPem: string };
  proxy?: HttpProxy;
  timeoutMs: number;
  /** When the whole delivery must be done (ms since the epoch), if it began before this request. */
  deadline?: number;
  clock: Clock;
  /**
   * A Retry-After (429, 503) is not waited for here but handed back in a retryable PostError: the
   * notify function returns its message to the queue for that long instead of sleeping through it.
   */
  deferRetryAfter?: boolean;
}

const RETRY_MAX = 4;
const WAIT_MIN_MS = 2_000;
const WAIT_MAX_MS = 30_000;
/**
 * A commit's statuses are read whole (GitHub lists 50 with their creators, over 64 KiB; Azure DevOps
 * every one); a hostile endpoint cannot make Sluice hold more.
 */
const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;
const MAX_DETAIL_CHARS = 300;

/** A POST that did not succeed; the message is Flux's, before masking. */
export class PostError extends Error {
  override name = "PostError";
  constructor(
    message: string,
    /** Another attempt later may succeed: a connection error, 429 or 5xx but 501 (go-retryablehttp's retry policy). */
    readonly retryable = false,
    /** What the endpoint's Retry-After asked for, when it was deferred ({@link PostOptions.deferRetryAfter}). */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/** An endpoint's answer: its status and (up to 64 KiB of) its body. */
export interface Answer {
  status: number;
  body: string;
}

/** Sends `request`, retrying as Flux does, until it succeeds, fails for good, or the timeout passes. */
export async function postWithRetry(request: ProviderRequest, options: PostOptions): Promise<void> {
  settle(request, await sendWithRetry(request, options));
}

/**
 * Sends `request` (a POST unless it says otherwise), retrying connection errors, 429 and 5xx as Flux
 * does; the last answer, whatever its status. Throws a PostError when no answer came.
 */
export async function sendWithRetry(request: ProviderRequest, options: PostOptions): Promise<Answer> {
  const deadline = options.deadline ?? options.clock.now() + options.timeoutMs;
  const http = sourceHttpClient({
    network: options.network,
    caPem: options.caPem,
    clientCert: options.clientCert,
    proxy: options.proxy,
    maxResponseBytes: MAX_RESPONSE_BYTES,
  });
  for (let attempt = 0; ; attempt++) {
    const left = deadline - options.clock.now();
    if (left <= 0) throw new PostError(`failed to execute request: timed out after ${options.timeoutMs}ms`, true);
    let answer: { status: number; retryAfter?: string; body: string } | { error: string; final: boolean };
    try {
      const method = request.method ?? "POST";
      const response = await http.request({
        url: request.url.href,
        method,
        ...(method === "GET" || method === "OPTIONS"
          ? { headers: request.headers }
          : {
              headers: { ...request.headers, "content-length": String(request.body.byteLength) },
              body: once(request.body),
            }),
        signal: AbortSignal.timeout(left),
      });
      const chunks: Uint8Array[] = [];
      for await (const chunk of response.body ?? []) chunks.push(chunk);
      answer = {
        status: response.statusCode,
        retryAfter: response.headers?.["retry-after"],
        body: Buffer.concat(chunks).toString("utf8"),
      };
    } catch (error) {
      answer = { error: (error as Error).message, final: isFinal(error) };
    }
    const status = "status" in answer ? answer : undefined;
    if (status && status.status !== 429 && (status.status < 500 || status.status === 501)) return status;
    const retryAfterMs = retryAfterOf(status);
    if (options.deferRetryAfter && status && retryAfterMs !== undefined)
      throw new PostError(failedStatus(status), true, retryAfterMs);
    const wait = retryAfterMs ?? Math.min(WAIT_MIN_MS * 2 ** attempt, WAIT_MAX_MS);
    const final = "final" in answer && answer.final;
    if (final || attempt >= RETRY_MAX || options.clock.now() + wait >= deadline) {
      if (status) return status;
      throw new PostError(`failed to execute request: ${"error" in answer ? answer.error : ""}`, !final);
    }
    await options.clock.sleep(wait);
  }
}

/**
 * Errors no retry can mend, which go-retryablehttp's DefaultRetryPolicy does not retry either: a
 * certificate that is not trusted (Node's TLS error codes) and, Sluice's own, an address the network
 * guard refuses.
 */
function isFinal(error: unknown): boolean {
  const code = String((error as { code?: unknown }).code ?? "");
  return error instanceof RefusedAddressError || /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/.test(code);
}

async function* once(body: Buffer): AsyncIterableIterator<Uint8Array> {
  yield new Uint8Array(body);
}

/** go-retryablehttp's DefaultBackoff honours Retry-After (whole seconds) on 429 and 503; otherwise it waits 2s·2^attempt up to 30s. */
function retryAfterOf(answer: { status: number; retryAfter?: string } | undefined): number | undefined {
  if (answer && (answer.status === 429 || answer.status === 503) && /^\d+$/.test(answer.retryAfter ?? ""))
    return Number(answer.retryAfter) * 1_000;
  return undefined;
}

function failedStatus(answer: { status: number; body: string }): string {
  return `request failed with status code ${answer.status}: ${answer.body.slice(0, MAX_DETAIL_CHARS)}`;
}

/** Throws the PostError for an answer that is not 2xx (retryable as go-retryablehttp retries). */
export function expectSuccess(answer: Answer, describe: (failed: string) => string = (failed) => failed): void {
  if (answer.status < 200 || answer.status >= 300)
    throw new PostError(
      describe(failedStatus(answer)),
      answer.status === 429 || (answer.status >= 500 && answer.status !== 501),
    );
}

/** A single-request provider's answer: 2xx, and for Slack's Web API `ok: true`. */
export function settle(request: ProviderRequest, answer: Answer): void {
  expectSuccess(answer);
  if (!request.checkSlackOk) return;
  let reply: { ok?: boolean; error?: string };
  try {
    reply = JSON.parse(answer.body) as typeof reply;
  } catch {
    throw new PostError("unable to unmarshal response body");
  }
  if (!reply.ok) throw new PostError(`Slack responded with error: ${String(reply.error ?? "")}`);
}
