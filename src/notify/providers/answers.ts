import { PostError, type Answer } from "../post.js";

// Small pieces every provider family uses: basic auth as Go's SetBasicAuth writes it, and an
// answer's JSON read with a clear error.

/** `Basic base64(user:password)`. */
export function basicAuth(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
}

/** The answer's body as JSON (a byte order mark allowed); a PostError naming `what` when it is not. */
export function answerJson(answer: Answer, what: string): unknown {
  try {
    return JSON.parse(answer.body.replace(/^\uFEFF/, ""));
  } catch {
    throw new PostError(`could not read ${what}: the answer is not JSON`);
  }
}
