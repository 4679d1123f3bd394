import type { z } from "zod";
import { alert, withAlertDefaults, type Alert } from "./alert.js";
import {
  artifactGenerator,
  externalArtifact,
  type ArtifactGenerator,
  type ExternalArtifact,
} from "./artifactgenerator.js";
import { bucket, withBucketDefaults, type Bucket } from "./bucket.js";
import { gitRepository, withGitRepositoryDefaults, type GitRepository } from "./gitrepository.js";
import { helmChart, withHelmChartDefaults, type HelmChart } from "./helmchart.js";
import { helmRelease, withHelmReleaseDefaults, type HelmRelease } from "./helmrelease.js";
import { helmRepository, withHelmRepositoryDefaults, type HelmRepository } from "./helmrepository.js";
import { imagePolicy, withImagePolicyDefaults, type ImagePolicy } from "./imagepolicy.js";
import { imageRepository, withImageRepositoryDefaults, type ImageRepository } from "./imagerepository.js";
import {
  imageUpdateAutomation,
  withImageUpdateAutomationDefaults,
  type ImageUpdateAutomation,
} from "./imageupdateautomation.js";
import { kustomization, withKustomizationDefaults, type Kustomization } from "./kustomization.js";
import { ociRepository, withOciRepositoryDefaults, type OCIRepository } from "./ocirepository.js";
import { provider, type Provider } from "./provider.js";
import { receiver, withReceiverDefaults, type Receiver } from "./receiver.js";

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
export const schemas = {
  GitRepository: gitRepository,
  Kustomization: kustomization,
  Receiver: receiver,
  HelmRepository: helmRepository,
  HelmChart: helmChart,
  OCIRepository: ociRepository,
  Bucket: bucket,
  HelmRelease: helmRelease,
  Alert: alert,
  Provider: provider,
  ImageRepository: imageRepository,
  ImagePolicy: imagePolicy,
  ImageUpdateAutomation: imageUpdateAutomation,
  ArtifactGenerator: artifactGenerator,
  ExternalArtifact: externalArtifact,
} as const;
export type FluxKind = keyof typeof schemas;
export type FluxObject =
  | GitRepository
  | HelmRepository
  | HelmChart
  | HelmRelease
  | OCIRepository
  | Bucket
  | Kustomization
  | Receiver
  | Alert
  | Provider
  | ImageRepository
  | ImagePolicy
  | ImageUpdateAutomation
  | ArtifactGenerator
  | ExternalArtifact;

/** An object as Flux's API server admits it, and the paths of the unknown fields it dropped (`spec.validation`). */
export interface Admitted<T> {
  object: T;
  dropped: string[];
}

/**
 * What Flux's API server makes of a submitted object: fields its CRD does not define are dropped
 * (named in `dropped`, so the caller can warn), everything else is validated as the CRD validates
 * it — wrong types, patterns, enums, bounds and CEL rules are an InvalidObjectError naming each
 * field path — and the CRD's defaults are filled in.
 */
export function admitFluxObject(input: unknown): Admitted<FluxObject> {
  const { value, dropped } = parsePruned(schemaOf(input), input);
  return { object: withDefaults(value), dropped };
}

/** The warning for fields admitFluxObject dropped, the same wherever it is given (an event, `sluice build`). */
export function droppedFieldsWarning(dropped: string[]): string {
  return `unknown fields dropped, as Flux's API server drops fields its CRD does not define: ${dropped.join(", ")}`;
}

/**
 * Validates a decoded YAML/JSON object as the Flux kind it claims to be, as admitFluxObject does,
 * and returns it as written: without the fields Flux would drop, without defaults filled in.
 */
export function parseFluxObject(input: unknown): FluxObject {
  return parsePruned(schemaOf(input), input).value;
}

/**
 * Validates one of Sluice's own objects against its schema, strictly: an unknown field is an error
 * there. An InvalidObjectError names the object and each field path.
 */
export function parseObject<T>(schema: z.ZodType<T>, input: unknown): T {
  const result = schema.safeParse(input);
  if (!result.success) throw new InvalidObjectError(subjectOf(input), result.error.issues.map(describeIssue));
  return result.data;
}

function schemaOf(input: unknown): z.ZodType<FluxObject> {
  const schema = schemas[(input as { kind?: FluxKind } | undefined)?.kind as FluxKind] as
    z.ZodType<FluxObject> | undefined;
  if (!schema)
    throw new InvalidObjectError(subjectOf(input), [`kind: must be one of ${Object.keys(schemas).join(", ")}`]);
  return schema;
}

/**
 * Parses with unknown fields pruned, as a structural schema prunes them. An object that is invalid
 * as well gets all of its problems at once, unknown fields included (a typo is often the cause).
 */
function parsePruned<T>(schema: z.ZodType<T>, input: unknown): { value: T; dropped: string[] } {
  const first = schema.safeParse(input);
  if (first.success) return { value: first.data, dropped: [] };
  const unknown = first.error.issues.filter((i) => i.code === "unrecognized_keys");
  if (unknown.length < first.error.issues.length)
    throw new InvalidObjectError(subjectOf(input), first.error.issues.map(describeIssue));
  const pruned = structuredClone(input);
  for (const issue of unknown) {
    const parent = issue.path.reduce<unknown>((at, key) => (at as Record<PropertyKey, unknown>)[key], pruned);
    for (const key of issue.keys) delete (parent as Record<string, unknown>)[key];
  }
  // Rules over a whole object (the CRD's CEL rules) are only checked once its fields parse.
  const second = schema.safeParse(pruned);
  if (!second.success)
    throw new InvalidObjectError(subjectOf(input), [...unknown, ...second.error.issues].map(describeIssue));
  const dropped = unknown.flatMap((i) => i.keys.map((key) => pathOf([...i.path, key])));
  return { value: second.data, dropped: dropped.sort() };
}

function withDefaults(object: FluxObject): FluxObject {
  switch (object.kind) {
    case "GitRepository":
      return withGitRepositoryDefaults(object);
    case "HelmRepository":
      return withHelmRepositoryDefaults(object);
    case "HelmChart":
      return withHelmChartDefaults(object);
    case "OCIRepository":
      return withOciRepositoryDefaults(object);
    case "Bucket":
      return withBucketDefaults(object);
    case "HelmRelease":
      return withHelmReleaseDefaults(object);
    case "Kustomization":
      return withKustomizationDefaults(object);
    case "Receiver":
      return withReceiverDefaults(object);
    case "Alert":
      return withAlertDefaults(object);
    case "Provider":
    case "ArtifactGenerator":
    case "ExternalArtifact":
      return object;
    case "ImageRepository":
      return withImageRepositoryDefaults(object);
    case "ImagePolicy":
      return withImagePolicyDefaults(object);
    case "ImageUpdateAutomation":
      return withImageUpdateAutomationDefaults(object);
  }
}

function subjectOf(input: unknown): string {
  const raw = (input ?? {}) as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } };
  return `${String(raw.kind ?? "<no kind>")}/${raw.metadata?.namespace ? `${String(raw.metadata.namespace)}/` : ""}${String(raw.metadata?.name ?? "<no name>")}`;
}

/** `spec.patches[0].target`: a field path as the messages name it. */
function pathOf(path: readonly PropertyKey[]): string {
  return path
    .map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`))
    .join("")
    .replace(/^\./, "");
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const path = pathOf(issue.path);
  if (issue.code === "unrecognized_keys")
    return issue.keys.map((k) => `${path ? `${path}.` : ""}${k}: unknown field`).join("; ");
  return `${path || "(root)"}: ${issue.message}`;
}
