import type { z } from "zod";
import { gitRepository, type GitRepository } from "./gitrepository.js";
import { kustomization, type Kustomization } from "./kustomization.js";
import { receiver, type Receiver } from "./receiver.js";

/** A Flux object whose spec does not validate; the message names the object and each field path. */
export class InvalidObjectError extends Error {
  override name = "InvalidObjectError";
  constructor(
    readonly subject: string,
    readonly problems: string[],
  ) {
    super(`${subject} is invalid: ${problems.join("; ")}`);
  }
}

/** The Flux kinds Sluice reconciles, by kind. */
export const schemas = { GitRepository: gitRepository, Kustomization: kustomization, Receiver: receiver } as const;
export type FluxKind = keyof typeof schemas;
export type FluxObject = GitRepository | Kustomization | Receiver;

/**
 * Validates a decoded YAML/JSON object as the Flux kind it claims to be. Unknown fields, wrong types
 * and bad durations are errors naming the field path, e.g. `spec.ref.branch: expected string`.
 */
export function parseFluxObject(input: unknown): FluxObject {
  const schema = schemas[(input as { kind?: FluxKind } | undefined)?.kind as FluxKind] as
    z.ZodType<FluxObject> | undefined;
  if (!schema)
    throw new InvalidObjectError(subjectOf(input), [`kind: must be one of ${Object.keys(schemas).join(", ")}`]);
  return parseObject(schema, input);
}

/** Validates an object against its schema; an InvalidObjectError names the object and each field path. */
export function parseObject<T>(schema: z.ZodType<T>, input: unknown): T {
  const result = schema.safeParse(input);
  if (!result.success) throw new InvalidObjectError(subjectOf(input), result.error.issues.map(describeIssue));
  return result.data;
}

function subjectOf(input: unknown): string {
  const raw = (input ?? {}) as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } };
  return `${String(raw.kind ?? "<no kind>")}/${raw.metadata?.namespace ? `${String(raw.metadata.namespace)}/` : ""}${String(raw.metadata?.name ?? "<no name>")}`;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const path = issue.path
    .map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`))
    .join("")
    .replace(/^\./, "");
  if (issue.code === "unrecognized_keys")
    return issue.keys.map((k) => `${path ? `${path}.` : ""}${k}: unknown field`).join("; ");
  return `${path || "(root)"}: ${issue.message}`;
}
