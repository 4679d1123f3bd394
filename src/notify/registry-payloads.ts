// notification-controller decodes a registry's webhook body into a small Go struct and refuses the delivery when
// that fails; nothing it decodes is used beyond a log line. These checks accept and refuse the same bodies, so a
// delivery Flux would turn away is turned away here too, without Sluice reading anything from the payload.

/** A Go struct's fields as JSON sees them: a string, a []string, or a nested struct. */
type Shape = "string" | "strings" | { [field: string]: Shape };

const SHAPES = {
  quay: { docker_url: "string", updated_tags: "strings" },
  dockerhub: { push_data: { tag: "string" }, repository: { repo_url: "string" } },
  nexus: { action: "string", repositoryName: "string" },
  acr: { action: "string", target: { repository: "string", tag: "string" } },
} as const satisfies Record<string, Shape>;

export type RegistryPayload = keyof typeof SHAPES;

/**
 * Whether `body` decodes into the type's struct as Go's encoding/json would. `json.Decoder.Decode` (quay, dockerhub,
 * acr) reads the first JSON value and ignores what follows it; `json.Unmarshal` (nexus) needs the whole body to be one.
 */
export function decodesAsGo(type: RegistryPayload, body: Buffer): boolean {
  const text = body.toString("utf8");
  const value = type === "nexus" ? text : firstValue(text);
  if (value === undefined) return false;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return false;
  }
  return fits(parsed, SHAPES[type]);
}

/** Go sets null to the zero value; a field of another JSON type is an UnmarshalTypeError; unknown fields are skipped. */
function fits(value: unknown, shape: Shape): boolean {
  if (value === null) return true;
  if (shape === "string") return typeof value === "string";
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
