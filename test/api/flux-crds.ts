import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import type { FluxKind } from "../../src/api/parse.js";
import { UNSUPPORTED_FIELDS } from "../../src/api/unsupported.js";

// Flux's CRDs as released (test/fixtures/flux-crds), read as the API server reads them: the
// openAPIV3Schema of the served version, walked field by field.

/** The part of a structural schema the conformance tests read. */
export interface Schema {
  type?: "string" | "integer" | "number" | "boolean" | "object" | "array";
  properties?: Record<string, Schema>;
  additionalProperties?: Schema | boolean;
  items?: Schema;
  required?: string[];
  enum?: unknown[];
  pattern?: string;
  format?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  minItems?: number;
  default?: unknown;
  "x-kubernetes-validations"?: { rule: string; message: string }[];
  "x-kubernetes-list-map-keys"?: string[];
}

const FILES: Record<FluxKind, string> = {
  GitRepository: "source.toolkit.fluxcd.io_gitrepositories.yaml",
  HelmRepository: "source.toolkit.fluxcd.io_helmrepositories.yaml",
  HelmChart: "source.toolkit.fluxcd.io_helmcharts.yaml",
  OCIRepository: "source.toolkit.fluxcd.io_ocirepositories.yaml",
  Bucket: "source.toolkit.fluxcd.io_buckets.yaml",
  HelmRelease: "helm.toolkit.fluxcd.io_helmreleases.yaml",
  Kustomization: "kustomize.toolkit.fluxcd.io_kustomizations.yaml",
  Receiver: "notification.toolkit.fluxcd.io_receivers.yaml",
  Alert: "notification.toolkit.fluxcd.io_alerts.yaml",
  Provider: "notification.toolkit.fluxcd.io_providers.yaml",
  ImageRepository: "image.toolkit.fluxcd.io_imagerepositories.yaml",
  ImagePolicy: "image.toolkit.fluxcd.io_imagepolicies.yaml",
  ImageUpdateAutomation: "image.toolkit.fluxcd.io_imageupdateautomations.yaml",
  ArtifactGenerator: "source.extensions.fluxcd.io_artifactgenerators.yaml",
  ExternalArtifact: "source.toolkit.fluxcd.io_externalartifacts.yaml",
};

export const KINDS = Object.keys(FILES) as FluxKind[];

/** The CRD's group/version and the schema of its only served version (Flux v2.9 serves v1 alone). */
export function crdOf(kind: FluxKind): { apiVersion: string; schema: Schema } {
  const crd = parse(readFileSync(join(import.meta.dirname, "../fixtures/flux-crds", FILES[kind]), "utf8")) as {
    spec: { group: string; versions: { name: string; served: boolean; schema: { openAPIV3Schema: Schema } }[] };
  };
  const served = crd.spec.versions.filter((v) => v.served);
  if (served.length !== 1) throw new Error(`${FILES[kind]}: expected one served version, got ${served.length}`);
  return { apiVersion: `${crd.spec.group}/${served[0]!.name}`, schema: served[0]!.schema.openAPIV3Schema };
}

/** A field of the schema: `spec.dependsOn[].readyExpr` (`[]` is every item of a list). */
export interface Field {
  path: string;
  schema: Schema;
}

/** Every field under spec and status (v1beta3 Alert and Provider have none), parents before children. */
export function fieldsOf(root: Schema): Field[] {
  const fields: Field[] = [];
  const walk = (schema: Schema, path: string) => {
    for (const [name, child] of Object.entries(schema.properties ?? {})) {
      const at = `${path}.${name}`;
      fields.push({ path: at, schema: child });
      walk(child, at);
      if (child.items) walk(child.items, `${at}[]`);
    }
  };
  walk(root.properties!.spec!, "spec");
  if (root.properties!.status) walk(root.properties!.status, "status");
  return fields;
}

/** Every object with fields of its own: spec, status, and each object field or list item under them (`spec.dependsOn[]`). */
export function objectsOf(root: Schema): Field[] {
  const objects: Field[] = [{ path: "spec", schema: root.properties!.spec! }];
  if (root.properties!.status) objects.push({ path: "status", schema: root.properties!.status });
  for (const field of fieldsOf(root)) {
    if (field.schema.properties) objects.push(field);
    if (field.schema.items?.properties) objects.push({ path: `${field.path}[]`, schema: field.schema.items });
  }
  return objects;
}

/** The schema at a field path. */
export function schemaAt(root: Schema, path: string): Schema {
  let schema = root;
  for (const segment of path.split(".")) {
    const each = segment.endsWith("[]");
    const child = schema.properties?.[each ? segment.slice(0, -2) : segment];
    if (!child) throw new Error(`no field ${path} in the CRD`);
    schema = each ? child.items! : child;
  }
  return schema;
}

/**
 * Values for the CRD's patterns, and for fields where Sluice asks more of a value than the CRD does
 * (each a value Flux could use at all): a new pattern in a refreshed CRD fails the tests until it
 * has one here.
 */
const PATTERN_SAMPLES: Record<string, string> = {
  "^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$": "1m30s",
  "^([0-9]+(\\.[0-9]+)?(ms|s|m))+$": "45s",
  "^(http|https|ssh)://.*$": "https://git.example/org/app.git",
  "^(http|https|oci)://.*$": "https://charts.example/stable",
  "^(http|https)://.*$": "http://proxy.example:3128",
  "^https?://": "https://issuer.example",
  "^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$": "sha256:0a1b2c",
  "^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$": "Succeeded",
  "^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$":
    "Ready",
  "^[\\-._a-zA-Z0-9]+$": "values.yaml",
  "^oci://.*$": "oci://ghcr.io/org/app",
  "^([a-zA-Z0-9_\\-.\\\\\\/]|\\[[0-9]{1,5}\\])+$": "ingress.hosts[0]",
  "^$|^[^+:]": "refs/heads/main:refs/heads/image-updates",
  // source-watcher's ArtifactGenerator: aliases, source names and namespaces, `@alias/glob`, `@alias`, `@artifact/path`.
  "^[a-z0-9]([a-z0-9_-]*[a-z0-9])?$": "repo",
  "^[a-z0-9]([a-z0-9-]*[a-z0-9])?$": "fleet",
  "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$": "apps",
  "^@([a-z0-9]([a-z0-9_-]*[a-z0-9])?)/(.*)$": "@repo/apps/**",
  "^@([a-z0-9]([a-z0-9_-]*[a-z0-9])?)$": "@repo",
  "^@artifact/([^/]{0,1}|[^./][^/]|[.][^./]|[^/]{3,})(/([^/]{0,1}|[^./][^/]|[.][^./]|[^/]{3,}))*$": "@artifact/apps/",
};
export const FIELD_SAMPLES: Record<string, unknown> = {
  // The CRD's enum starts with Always, which its CEL rules only take with an interval.
  "ImagePolicy spec.digestReflectionPolicy": "IfNotPresent",
  // The CRD takes any string; only a commit SHA can ever be checked out.
  "GitRepository spec.ref.commit": "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567",
  "ImageUpdateAutomation spec.git.checkout.ref.commit": "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567",
  // The CRD's CEL rule needs one of its two references.
  "Kustomization spec.kubeConfig": { secretRef: { name: "remote" } },
  "HelmRelease spec.kubeConfig": { secretRef: { name: "remote" } },
};

/**
 * A valid value for a field: its sample, enum's first value, or built from its type (objects with
 * their required fields). `skeleton`: the field's own sample is not used (a parent about to get a child).
 */
export function sample(kind: FluxKind, path: string, schema: Schema, skeleton = false): unknown {
  const given = FIELD_SAMPLES[`${kind} ${path}`];
  if (given !== undefined && !skeleton) return structuredClone(given);
  if (schema.enum) return schema.enum[0];
  if (schema.pattern) {
    const value = PATTERN_SAMPLES[schema.pattern];
    if (value === undefined) throw new Error(`${kind} ${path}: no sample for the CRD's pattern ${schema.pattern}`);
    return value;
  }
  switch (schema.type) {
    case "string":
      return schema.format === "date-time" ? "2026-05-01T10:00:00Z" : "sample";
    case "integer":
    case "number":
      return Math.max(schema.minimum ?? 1, 1);
    case "boolean":
      return true;
    case "array":
      return [sample(kind, `${path}[]`, schema.items!)];
    case "object":
    default: {
      if (typeof schema.additionalProperties === "object")
        return { example: sample(kind, `${path}.example`, schema.additionalProperties) };
      return Object.fromEntries(
        (schema.required ?? []).map((name) => [name, sample(kind, `${path}.${name}`, schema.properties![name]!)]),
      );
    }
  }
}

/** Sets a field of a decoded object, creating its parents (with their required fields) on the way; lists get one item. */
export function place(
  kind: FluxKind,
  object: Record<string, unknown>,
  root: Schema,
  path: string,
  value: unknown,
): void {
  const segments = path.split(".");
  let at: Record<string, unknown> = object;
  let schema = root;
  let walked = "";
  segments.forEach((segment, i) => {
    const each = segment.endsWith("[]");
    const name = each ? segment.slice(0, -2) : segment;
    const child = schema.properties![name]!;
    walked = walked ? `${walked}.${name}` : name;
    if (i === segments.length - 1 && !each) {
      at[name] = value;
      return;
    }
    at[name] ??= sample(kind, walked, child, true);
    if (each) {
      const list = at[name] as unknown[];
      if (i === segments.length - 1) {
        list[0] = value;
        return;
      }
      walked += "[]";
      at = list[0] as Record<string, unknown>;
      schema = child.items!;
    } else {
      at = at[name] as Record<string, unknown>;
      schema = child;
    }
  });
}

/** Reads a field of a decoded object (the first item of each list on the way). */
export function valueAt(object: unknown, path: string): unknown {
  let at = object;
  for (const segment of path.split(".")) {
    const each = segment.endsWith("[]");
    at = (at as Record<string, unknown> | undefined)?.[each ? segment.slice(0, -2) : segment];
    if (each) at = (at as unknown[] | undefined)?.[0];
  }
  return at;
}

/**
 * The README's table of Flux fields, generated from the CRDs and UNSUPPORTED_FIELDS: per kind, the
 * top-level spec fields Sluice implements, then each refused field (or value) with its reason.
 */
export function fieldTable(): string {
  const rows = ["| kind | field | in Sluice |", "|---|---|---|"];
  for (const kind of KINDS) {
    const { apiVersion, schema } = crdOf(kind);
    const refused = UNSUPPORTED_FIELDS[kind];
    const wholly = new Set(refused.filter((f) => !f.when).map((f) => f.path));
    const supported = Object.keys(schema.properties!.spec!.properties!)
      .sort()
      .filter((name) => !wholly.has(`spec.${name}`));
    rows.push(`| ${kind} (\`${apiVersion}\`) | ${supported.map((s) => `\`${s}\``).join(", ")} | supported |`);
    for (const field of refused)
      rows.push(
        `| ${kind} | \`${field.path.replace(/^spec\./, "")}\`${field.when ? ` ${field.when.describe}` : ""} | refused: ${field.reason} |`,
      );
  }
  return rows.join("\n");
}
