import { BuildError } from "./build-error.js";

/**
 * Bounds on one render, so a hostile or broken source fails as `BuildFailed` naming the limit instead
 * of exhausting the process (and, on Lambda, the other reconciles of its batch).
 */
export interface RenderLimits {
  /** Wall-clock time of one kustomize run. @default 60_000 */
  timeoutMs: number;
  /** Size of any one file in the source tree that a render reads. @default 32 MiB */
  maxFileBytes: number;
  /** YAML documents in one render. @default 20_000 */
  maxDocuments: number;
  /** Bytes of rendered YAML (kustomize's output, or the files of a plain folder, aliases expanded). @default 128 MiB */
  maxOutputBytes: number;
  /** YAML alias expansions per document (the `yaml` library's `maxAliasCount`). @default 100 */
  maxAliases: number;
  /** Resident memory of one kustomize or `helm template` process (read from /proc). @default 1 GiB */
  maxMemoryBytes: number;
}

export const defaultRenderLimits: RenderLimits = {
  timeoutMs: 60_000,
  maxFileBytes: 32 << 20,
  maxDocuments: 20_000,
  maxOutputBytes: 128 << 20,
  maxAliases: 100,
  maxMemoryBytes: 1 << 30,
};

/** What one render has decoded so far (documents, bytes), checked against its limits as it goes. */
export class RenderBudget {
  private documents = 0;
  private bytes = 0;

  constructor(readonly limits: RenderLimits) {}

  /** Counts one more YAML document, read from `source`. */
  countDocument(source: string): void {
    if (++this.documents > this.limits.maxDocuments) {
      throw new BuildError(
        `${source}: the render has more than ${this.limits.maxDocuments} YAML documents, over the limit (renderLimits.maxDocuments)`,
      );
    }
  }

  /** Counts `bytes` more of rendered YAML, read from `source`. */
  countBytes(bytes: number, source: string): void {
    this.bytes += bytes;
    if (this.bytes > this.limits.maxOutputBytes) throw outputOverLimit(source, this.limits);
  }

  /** Bytes still allowed before the render goes over maxOutputBytes. */
  get bytesLeft(): number {
    return this.limits.maxOutputBytes - this.bytes;
  }
}

/** The render (from `source` on) is larger than maxOutputBytes. */
export function outputOverLimit(source: string, limits: RenderLimits): BuildError {
  return new BuildError(
    `${source}: the rendered YAML is over the ${limits.maxOutputBytes}-byte limit (renderLimits.maxOutputBytes)`,
  );
}

/** A file larger than maxFileBytes: refused before anything reads it. */
export function checkFileSize(name: string, size: number, limits: RenderLimits): void {
  if (size > limits.maxFileBytes)
    throw new BuildError(
      `${name} is ${size} bytes, over the ${limits.maxFileBytes}-byte limit (renderLimits.maxFileBytes)`,
    );
}

/**
 * Render limits from an operator setting such as `timeoutMs=120000,maxFileBytes=67108864`
 * (`sluice run --render-limits`, `SLUICE_RENDER_LIMITS`); unset keys keep `defaults`. Unknown
 * keys and values that are not positive integers are refused, naming `setting`.
 */
export function parseRenderLimits(
  text: string | undefined,
  setting: string,
  defaults: RenderLimits = defaultRenderLimits,
): RenderLimits {
  const limits = { ...defaults };
  for (const pair of (text ?? "").split(",").filter((p) => p.trim() !== "")) {
    const [key = "", value = ""] = pair.split("=").map((s) => s.trim());
    if (!Object.hasOwn(limits, key))
      throw new Error(`${setting}: unknown limit '${key}'; known: ${Object.keys(limits).join(", ")}`);
    if (!/^[1-9][0-9]*$/.test(value) || !Number.isSafeInteger(Number(value)))
      throw new Error(`${setting}: ${key} must be a positive integer, not '${value}'`);
    limits[key as keyof RenderLimits] = Number(value);
  }
  return limits;
}
