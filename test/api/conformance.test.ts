import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Environment } from "@marcbachmann/cel-js";
import { describe, expect, it } from "vitest";
import { admitFluxObject, InvalidObjectError, type FluxKind } from "../../src/api/parse.js";
import { UNSUPPORTED_FIELDS, unsupportedFields } from "../../src/api/unsupported.js";
import {
  crdOf,
  fieldsOf,
  fieldTable,
  KINDS,
  objectsOf,
  place,
  sample,
  schemaAt,
  valueAt,
  type Schema,
} from "./flux-crds.js";

// Sluice's API against Flux v2.9's CRDs as released (test/fixtures/flux-crds): every field of each
// CRD, spec and status, is accepted as Flux's API server accepts it and then either implemented or
// refused with its listed reason; a new Flux field, pattern, enum, bound, default or CEL rule with no
// decision in Sluice fails here.

/** The smallest object of each kind Flux accepts (and Sluice implements). */
const BASES: Record<FluxKind, { spec: Record<string, unknown> }> = {
  GitRepository: { spec: { interval: "1m", url: "https://git.example/org/app.git" } },
  HelmRepository: { spec: { interval: "10m", url: "https://charts.example/stable" } },
  HelmChart: { spec: { interval: "10m", chart: "podinfo", sourceRef: { kind: "HelmRepository", name: "podinfo" } } },
  OCIRepository: { spec: { interval: "10m", url: "oci://ghcr.io/org/manifests" } },
  Bucket: { spec: { interval: "5m", bucketName: "manifests", endpoint: "s3.amazonaws.com" } },
  HelmRelease: { spec: { interval: "10m", chartRef: { kind: "HelmChart", name: "podinfo" } } },
  Kustomization: { spec: { interval: "10m", prune: true, sourceRef: { kind: "GitRepository", name: "app" } } },
  Receiver: {
    spec: { type: "generic", resources: [{ kind: "GitRepository", name: "app" }], secretRef: { name: "token" } },
  },
  Alert: { spec: { providerRef: { name: "slack" }, eventSources: [{ kind: "Kustomization", name: "*" }] } },
  Provider: { spec: { type: "generic", address: "https://hooks.example/flux" } },
  ImageRepository: { spec: { image: "ghcr.io/stefanprodan/podinfo", interval: "5m" } },
  ImagePolicy: { spec: { imageRepositoryRef: { name: "podinfo" }, policy: { semver: { range: "6.x" } } } },
  ImageUpdateAutomation: { spec: { interval: "30m", sourceRef: { kind: "GitRepository", name: "fleet" } } },
  ArtifactGenerator: {
    spec: {
      sources: [{ alias: "repo", kind: "GitRepository", name: "fleet" }],
      artifacts: [{ name: "apps", copy: [{ from: "@repo/apps/**", to: "@artifact/" }] }],
    },
  },
  ExternalArtifact: { spec: {} },
};

const ldapSts = (spec: Record<string, unknown>) => {
  spec.provider = "generic";
  spec.sts = { provider: "ldap", endpoint: "https://sts.example" };
};
const OIDC_PROVIDER = { issuerURL: "https://issuer.example", validations: [{ expression: "true", message: "m" }] };
const asOidc = (spec: Record<string, unknown>) => {
  spec.type = "generic-oidc";
  spec.oidcProviders ??= [structuredClone(OIDC_PROVIDER)];
  delete spec.secretRef;
};

/** What a field (and everything under it), or one value of it, needs around it to pass the CRD's CEL rules. */
const CONTEXTS: Record<string, (spec: Record<string, unknown>) => void> = {
  "GitRepository spec.serviceAccountName": (spec) => void (spec.provider = "aws"),
  // The Bucket CRD's CEL rules: aws STS for the aws provider, ldap STS (which alone takes secrets) for generic.
  "Bucket spec.serviceAccountName": (spec) => void (spec.provider = "aws"),
  "Bucket spec.sts": (spec) => void (spec.provider = "aws"),
  "Bucket spec.sts.provider=ldap": (spec) => void (spec.provider = "generic"),
  "Bucket spec.sts.secretRef": ldapSts,
  "Bucket spec.sts.certSecretRef": ldapSts,
  "Receiver spec.oidcProviders": asOidc,
  "Receiver spec.type=generic-oidc": asOidc,
  // The CRD's CEL rules: a chart template or a chartRef, never both; a retry interval only to retry.
  "HelmRelease spec.chart": (spec) => void delete spec.chartRef,
  "HelmRelease spec.install.strategy.retryInterval": (spec) =>
    void (spec.install = { strategy: { name: "RetryOnFailure" } }),
  "HelmRelease spec.upgrade.strategy.retryInterval": (spec) =>
    void (spec.upgrade = { strategy: { name: "RetryOnFailure" } }),
  "ImagePolicy spec.interval": (spec) => void (spec.digestReflectionPolicy = "Always"),
  "ImagePolicy spec.digestReflectionPolicy=Always": (spec) => void (spec.interval = "10m"),
  // Sluice verifies with cosign public keys only: the other verify fields are tested beside a secretRef.
  "OCIRepository spec.verify": (spec) => void (spec.verify = { secretRef: { name: "keys" } }),
  "HelmChart spec.verify": (spec) => void (spec.verify = { secretRef: { name: "keys" } }),
  "HelmRelease spec.chart.spec.verify": (spec) =>
    void (spec.chart = {
      spec: {
        chart: "podinfo",
        sourceRef: { kind: "HelmRepository", name: "podinfo" },
        verify: { secretRef: { name: "keys" } },
      },
    }),
  // The CRD's CEL rule: only commit status providers take an expression.
  "Provider spec.commitStatusExpr": (spec) => void (spec.type = "github"),
};

function base(kind: FluxKind, path = "", value?: unknown): Record<string, unknown> {
  const object = {
    apiVersion: crdOf(kind).apiVersion,
    kind,
    metadata: { name: "app", namespace: "apps" },
    ...structuredClone(BASES[kind]),
  } as Record<string, unknown> & { spec: Record<string, unknown> };
  const at = `${kind} ${path}`;
  for (const [field, prepare] of Object.entries(CONTEXTS)) {
    const [where, only] = field.split("=");
    if (
      only === undefined
        ? at === where || at.startsWith(`${where}.`) || at.startsWith(`${where}[`)
        : at === where && value === only
    )
      prepare(object.spec);
  }
  return object;
}

/** Whether a field path is `of` or under it. */
const within = (path: string, of: string) => path === of || path.startsWith(`${of}.`) || path.startsWith(`${of}[`);

/** `spec.dependsOn[].readyExpr` as an error names the first item's: `spec.dependsOn[0].readyExpr`. */
const concrete = (path: string) => path.replaceAll("[]", "[0]");

function problemsOf(input: unknown): string[] {
  try {
    admitFluxObject(input);
    return [];
  } catch (error) {
    if (error instanceof InvalidObjectError) return error.problems;
    throw error;
  }
}

const cases = KINDS.flatMap((kind) => {
  const { schema } = crdOf(kind);
  return fieldsOf(schema).map((field) => ({ kind, ...field, root: schema }));
});
const named = (pick: (s: Schema) => unknown) =>
  cases.filter((c) => pick(c.schema) !== undefined).map((c) => [c.kind, c.path, c] as const);

describe("Flux v2.9 API conformance (CRDs of helm-controller v1.6.3, kustomize-controller v1.9.4, source-controller v1.9.4, notification-controller v1.9.3)", () => {
  it.each(cases.map((c) => [c.kind, c.path, c] as const))(
    "%s %s: a valid value is admitted as written, then implemented or refused with its listed reason",
    (kind, path, { schema, root }) => {
      // Prepare
      const object = base(kind, path);
      const value = sample(kind, path, schema);
      place(kind, object, root, path, value);
      // Act
      const { object: admitted, dropped } = admitFluxObject(object);
      const refusals = unsupportedFields(admitted).map((r) => r.replace(/\[\d+\]/g, "[]"));
      // Assess: known, round-trips (defaults may be added around it), and decided
      expect(dropped).toEqual([]);
      if (typeof value === "object") expect(valueAt(admitted, path)).toMatchObject(value as object);
      else expect(valueAt(admitted, path)).toEqual(value);
      const expected = UNSUPPORTED_FIELDS[kind]
        .filter((f) => within(path, f.path) && (!f.when || (f.path === path && f.when.test(value))))
        .map((f) => `${f.path}${f.when ? ` (${JSON.stringify(value)})` : ""}: ${f.reason}`);
      expect(refusals.filter((r) => within(path, r.slice(0, r.search(/[ :]/))))).toEqual(expected);
    },
  );

  it.each(named((s) => s.enum))("%s %s: every value of the CRD's enum is admitted, others are not", (kind, path, c) => {
    for (const value of c.schema.enum!) {
      const object = base(kind, path, value);
      place(kind, object, c.root, path, value);
      expect(problemsOf(object)).toEqual([]);
    }
    const object = base(kind, path);
    place(kind, object, c.root, path, "NotInTheEnum");
    expect(problemsOf(object).join("; ")).toContain(`${concrete(path)}: `);
  });

  it.each(named((s) => s.pattern))("%s %s: a value off the CRD's pattern is refused", (kind, path, c) => {
    // A pattern that only refuses leading characters ("^$|^[^+:]") takes one it refuses.
    const value = c.schema.pattern === "^$|^[^+:]" ? "+refs/heads/main" : "not valid!";
    expect(new RegExp(c.schema.pattern!).test(value)).toBe(false);
    const object = base(kind, path);
    place(kind, object, c.root, path, value);
    expect(problemsOf(object).join("; ")).toContain(`${concrete(path)}: `);
  });

  it.each(named((s) => s.maxLength ?? s.minLength ?? s.minimum ?? s.minItems))(
    "%s %s: the CRD's bounds hold",
    (kind, path, { schema, root }) => {
      const over = [
        schema.maxLength !== undefined && "a".repeat(schema.maxLength + 1),
        schema.minLength !== undefined && "a".repeat(schema.minLength - 1),
        schema.minimum !== undefined && schema.minimum - 1,
        schema.minItems !== undefined && [],
      ].filter((v) => v !== false);
      for (const value of over) {
        const object = base(kind, path);
        place(kind, object, root, path, value);
        expect(problemsOf(object).join("; "), JSON.stringify(value).slice(0, 40)).toContain(`${concrete(path)}: `);
      }
    },
  );

  it.each(cases.map((c) => [c.kind, c.path, c] as const))(
    "%s %s: a value of the wrong type is refused",
    (kind, path, { schema, root }) => {
      const wrong = { string: 5, integer: "1", number: "1", boolean: "yes", array: { a: 1 }, object: "text" }[
        schema.type ?? "object"
      ];
      const object = base(kind, path);
      place(kind, object, root, path, wrong);
      expect(problemsOf(object).join("; ")).toContain(`${concrete(path)}: `);
    },
  );

  const objects = KINDS.flatMap((kind) => objectsOf(crdOf(kind).schema).map((o) => ({ kind, ...o })));
  /** An object of the schema placed in a base object (spec and status are there already, or made empty). */
  const withObjectAt = (kind: FluxKind, path: string, schema: Schema) => {
    const object = base(kind, path);
    if (path === "spec" || path === "status") object[path] ??= {};
    else place(kind, object, crdOf(kind).schema, path, sample(kind, path, schema));
    return object;
  };

  it.each(objects.flatMap((o) => (o.schema.required ?? []).map((field) => [o.kind, `${o.path}.${field}`, o] as const)))(
    "%s %s: required by the CRD",
    (kind, path, { path: parent, schema }) => {
      const object = withObjectAt(kind, parent, schema);
      const field = path.slice(parent.length + 1);
      delete (valueAt(object, parent) as Record<string, unknown>)[field];
      // The API server fills in defaults before it validates: a required field with a default is never missing.
      const fallback = schema.properties![field]!.default;
      if (fallback !== undefined) expect(valueAt(admitFluxObject(object).object, path)).toEqual(fallback);
      else expect(problemsOf(object).join("; ")).toContain(`${concrete(path)}: `);
    },
  );

  it.each(objects.map((o) => [o.kind, o.path, o] as const))(
    "%s %s: a field the CRD does not define is dropped with its path, as Flux's API server prunes it",
    (kind, path, { schema }) => {
      // Prepare
      const object = withObjectAt(kind, path, schema);
      const without = admitFluxObject(structuredClone(object)).object;
      (valueAt(object, path) as Record<string, unknown>).gitImplementation = "go-git";
      // Act
      const { object: admitted, dropped } = admitFluxObject(object);
      // Assess
      expect(dropped).toEqual([`${concrete(path)}.gitImplementation`]);
      expect(admitted).toEqual(without);
    },
  );

  it.each(named((s) => s.default))("%s %s: the CRD's default is filled in", (kind, path, { schema, root }) => {
    const parent = path.slice(0, path.lastIndexOf("."));
    const object = withObjectAt(kind, parent, schemaAt(root, parent));
    expect(valueAt(admitFluxObject(object).object, path)).toEqual(schema.default);
  });

  it("leaves status' own default (observedGeneration -1) out: Sluice writes each status itself, and absent means never observed", () => {
    // v1beta3 Alert and Provider have no status in Flux's CRDs (Sluice keeps Ready in its Store only); source-watcher's
    // ArtifactGenerator and the ExternalArtifact it writes have no observedGeneration in theirs.
    const withStatus = KINDS.filter(
      (kind) => crdOf(kind).schema.properties!.status && kind !== "ArtifactGenerator" && kind !== "ExternalArtifact",
    );
    expect(withStatus.map((kind) => crdOf(kind).schema.properties!.status!.default)).toEqual(
      withStatus.map(() => ({ observedGeneration: -1 })),
    );
  });

  /** Objects around each CEL rule: each is admitted exactly when every rule of the CRD there holds. */
  const celVariants: Record<string, Record<string, unknown>[]> = {
    // Artifact names must be object names unless pathPattern is set.
    "ArtifactGenerator spec": [undefined, "@repo/apps/{app}"].flatMap((pathPattern) =>
      ["apps", "Apps_{app}"].map((name) => ({
        sources: [{ alias: "repo", kind: "GitRepository", name: "fleet" }],
        pathPattern,
        artifacts: [{ name, copy: [{ from: "@repo/apps/**", to: "@artifact/" }] }],
      })),
    ),
    "GitRepository spec": [undefined, "generic", "aws", "azure", "github"].flatMap((provider) =>
      [undefined, "sa"].map((serviceAccountName) => ({ provider, serviceAccountName })),
    ),
    "Bucket spec": ["generic", "aws", "gcp", "azure"].flatMap((provider) =>
      [
        undefined,
        { provider: "aws", endpoint: "https://sts.example" },
        { provider: "ldap", endpoint: "https://sts.example", secretRef: { name: "ldap" } },
      ].flatMap((sts) =>
        [undefined, "sa"].flatMap((serviceAccountName) =>
          [undefined, { name: "keys" }].map((secretRef) => ({ provider, sts, serviceAccountName, secretRef })),
        ),
      ),
    ),
    "HelmChart spec": ["HelmRepository", "GitRepository", "Bucket"].flatMap((kind) =>
      [undefined, { provider: "cosign" }].map((verify) => ({ sourceRef: { kind, name: "podinfo" }, verify })),
    ),
    "HelmRelease spec": [
      undefined,
      { spec: { chart: "podinfo", sourceRef: { kind: "HelmRepository", name: "podinfo" } } },
    ].flatMap((chart) => [undefined, { kind: "HelmChart", name: "podinfo" }].map((chartRef) => ({ chart, chartRef }))),
    "HelmRelease spec.kubeConfig": [
      {},
      { secretRef: { name: "remote" } },
      { configMapRef: { name: "remote" } },
      { secretRef: { name: "remote" }, configMapRef: { name: "remote" } },
    ],
    "HelmRelease spec.install.strategy": ["RemediateOnFailure", "RetryOnFailure"].flatMap((name) =>
      [undefined, "1m"].map((retryInterval) => ({ name, retryInterval })),
    ),
    "HelmRelease spec.upgrade.strategy": ["RemediateOnFailure", "RetryOnFailure"].flatMap((name) =>
      [undefined, "1m"].map((retryInterval) => ({ name, retryInterval })),
    ),
    "Kustomization spec.kubeConfig": [
      {},
      { secretRef: { name: "remote" } },
      { configMapRef: { name: "remote" } },
      { secretRef: { name: "remote" }, configMapRef: { name: "remote" } },
    ],
    // The CRD's CEL rules: an interval only refreshes an Always digest, and Always needs one.
    "ImagePolicy spec": [undefined, "Never", "IfNotPresent", "Always"].flatMap((digestReflectionPolicy) =>
      [undefined, "1m"].map((interval) => ({ digestReflectionPolicy, interval })),
    ),
    "Provider spec": ["generic", "github"].flatMap((type) =>
      [undefined, "'success'"].map((commitStatusExpr) => ({ type, commitStatusExpr })),
    ),
    "Receiver spec": ["generic", "generic-oidc"].flatMap((type) =>
      [
        undefined,
        [],
        [{ issuerURL: "https://issuer.example", validations: [{ expression: "true", message: "m" }] }],
      ].flatMap((oidcProviders) =>
        [undefined, { name: "token" }].map((secretRef) => ({ type, oidcProviders, secretRef })),
      ),
    ),
  };
  const celLocations = KINDS.flatMap((kind) => {
    const { schema } = crdOf(kind);
    return [{ path: "spec", schema: schema.properties!.spec! }, ...cases.filter((c) => c.kind === kind)]
      .filter((f) => f.schema["x-kubernetes-validations"])
      .map((f) => [kind, f.path, f.schema["x-kubernetes-validations"]!] as const);
  });

  it("has variants for every CEL rule location of the CRDs", () => {
    expect(celLocations.map(([kind, path]) => `${kind} ${path}`).sort()).toEqual(Object.keys(celVariants).sort());
  });

  const cel = new Environment({ unlistedVariablesAreDyn: true, homogeneousAggregateLiterals: false });
  it.each(celLocations)("%s %s: admitted exactly when the CRD's CEL rules hold", (kind, path, rules) => {
    for (const variant of celVariants[`${kind} ${path}`]!) {
      const object = base(kind);
      const self = Object.fromEntries(Object.entries(variant).filter(([, v]) => v !== undefined));
      if (path === "spec") {
        for (const key of Object.keys(variant)) delete (object.spec as Record<string, unknown>)[key];
        Object.assign(object.spec as object, self);
      } else place(kind, object, crdOf(kind).schema, path, self);
      const broken = rules.filter((r) => cel.evaluate(r.rule, { self }) !== true).map((r) => r.message);
      const problems = problemsOf(object).join("; ");
      for (const message of broken) expect(problems, JSON.stringify(self)).toContain(`${path}: ${message}`);
      if (broken.length === 0) expect(problems, JSON.stringify(self)).toBe("");
    }
  });

  it("lists only fields the CRDs have", () => {
    for (const kind of KINDS)
      for (const field of UNSUPPORTED_FIELDS[kind])
        expect(() => schemaAt(crdOf(kind).schema, field.path)).not.toThrow();
  });

  it("README's table of Flux fields is the one the CRDs and the list of refused fields give", () => {
    const readme = readFileSync(join(import.meta.dirname, "../../README.md"), "utf8");
    const table = /<!-- flux-fields:start[^>]*-->\n([\s\S]*?)\n<!-- flux-fields:end -->/.exec(readme)?.[1];
    expect(table, "npx tsx test/api/print-flux-fields.ts prints the table").toBe(fieldTable());
  });
});
