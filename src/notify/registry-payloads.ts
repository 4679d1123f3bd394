// notification-controller decodes a registry's webhook body into a small Go struct and refuses the delivery when
// that fails; nothing it decodes is used beyond a log line. These checks accept and refuse the same bodies, so a
// delivery Flux would turn away is turned away here too, without Sluice reading anything from the payload.

/** A Go struct's fields as JSON sees them: a string, a []string, a time.Time, or a nested struct. */
type Shape = "string" | "strings" | "time" | { [field: string]: Shape };

const SHAPES = {
  quay: { docker_url: "string", updated_tags: "strings" },
  dockerhub: { push_data: { tag: "string" }, repository: { repo_url: "string" } },
  nexus: { action: "string", repositoryName: "string" },
  acr: { action: "string", target: { repository: "string", tag: "string" } },
  // A Pub/Sub push, and the registry event its base64 message.data holds.
  gcr: { message: { data: "string", messageId: "string", publishTime: "time", subscription: "string" } },
  "gcr-event": { action: "string", digest: "string", tag: "string" },
} as const satisfies Record<string, Shape>;

export type RegistryPayload = keyof typeof SHAPES;

/**
 * Whether `body` decodes into the type's struct as Go's encoding/json would. `json.Decoder.Decode` (quay, dockerhub,
 * acr, gcr) reads the first JSON value and ignores what follows it; `json.Unmarshal` (nexus, the gcr event) needs
 * the whole body to be one.
 */
export function decodesAsGo(type: RegistryPayload, body: Buffer): boolean {
  const parsed = goDecode(type, body);
  return parsed !== undefined && fits(parsed.value, SHAPES[type]);
}

/**
 * notification-controller's gcr decoding: the Pub/Sub envelope, then its `message.data` base64-decoded (what
 * decodes before a bad character, the error ignored, as Go's DecodeString gives it) as the registry's event.
 */
export function decodesGcrPush(body: Buffer): boolean {
  if (!decodesAsGo("gcr", body)) return false;
  const data = goField(goField(goDecode("gcr", body)!.value, "message"), "data");
  return decodesAsGo("gcr-event", goBase64(typeof data === "string" ? data : ""));
}

function goDecode(type: RegistryPayload, body: Buffer): { value: unknown } | undefined {
  const text = body.toString("utf8");
  const value = type === "nexus" || type === "gcr-event" ? text : firstValue(text);
  if (value === undefined) return undefined;
  try {
    return { value: JSON.parse(value) as unknown };
  } catch {
    return undefined;
  }
}

/** The value Go would decode into the struct field `field`: the exact key, else one equal to it in any case. */
function goField(value: unknown, field: string): unknown {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return undefined;
  const entries = Object.entries(value);
  return (entries.find(([key]) => key === field) ??
    entries.find(([key]) => key.toLowerCase() === field.toLowerCase()))?.[1];
}

/** base64.StdEncoding.DecodeString's bytes: whole 4-character groups up to the first character it refuses. */
function goBase64(text: string): Buffer {
  const clean = text.replace(/[\r\n]/g, "");
  const valid = /^[A-Za-z0-9+/]*(={0,2})/.exec(clean)![0];
  const groups = valid.slice(0, valid.length - (valid.length % 4));
  return Buffer.from(groups, "base64");
}

/** Go's time.Time in JSON: a string in RFC 3339 (fractional seconds allowed). */
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/** Go sets null to the zero value; a field of another JSON type is an UnmarshalTypeError; unknown fields are skipped. */
function fits(value: unknown, shape: Shape): boolean {
  if (value === null) return true;
  if (shape === "string") return typeof value === "string";
  if (shape === "time") return typeof value === "string" && RFC3339.test(value) && !Number.isNaN(Date.parse(value));
  if (shape === "strings")
    return Array.isArray(value) && value.every((item) => item === null || typeof item === "string");
  if (typeof value !== "object" || Array.isArray(value)) return false;
  // Go matches a key to a field exactly or, failing that, case-insensitively.
  return Object.entries(value).every(([key, item]) => {
    const field = key in shape ? key : Object.keys(shape).find((f) => f.toLowerCase() === key.toLowerCase());
    return field === undefined || fits(item, shape[field]!);
  });
}

const WHITESPACE = new Set([" ", "\t", "\n", "\r"]);

/**
 * The text of the first JSON value in `text` (what Go's Decoder reads), or undefined when there is none; its
 * validity is left to JSON.parse. Brackets inside strings are skipped; a scalar ends at the first byte not its own.
 */
function firstValue(text: string): string | undefined {
  let start = 0;
  while (start < text.length && WHITESPACE.has(text[start]!)) start++;
  if (start === text.length) return undefined;
  let i = start;
  const first = text[i]!;
  if (first === "{" || first === "[") {
    let depth = 0;
    for (; i < text.length; i++) {
      const c = text[i];
      if (c === '"') i = endOfString(text, i);
      else if (c === "{" || c === "[") depth++;
      else if ((c === "}" || c === "]") && --depth === 0) return text.slice(start, i + 1);
    }
    return undefined;
  }
  if (first === '"') return text.slice(start, endOfString(text, i) + 1);
  while (i < text.length && /[-+.0-9A-Za-z]/.test(text[i]!)) i++;
  return text.slice(start, i);
}

/** The index of the quote closing the string opened at `open` (the text's length when unterminated). */
function endOfString(text: string, open: number): number {
  for (let i = open + 1; i < text.length; i++) {
    if (text[i] === "\\") i++;
    else if (text[i] === '"') return i;
  }
  return text.length;
}
