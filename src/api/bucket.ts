import { z } from "zod";
import { duration, minutesDuration } from "./duration.js";
import { artifact, commonStatus, fluxObject, localObjectReference } from "./meta.js";

// source-controller v1.9's Bucket (source.toolkit.fluxcd.io/v1), field for field as its CRD
// (test/fixtures/flux-crds) validates it: enums, patterns, required fields, defaults and CEL rules.

export const BUCKET_API_VERSION = "source.toolkit.fluxcd.io/v1";

/** The CRD's defaults, filled in on admission. */
const DEFAULT_PROVIDER = "generic" as const;
const DEFAULT_TIMEOUT = "60s";

const bucketSts = z.strictObject({
  provider: z.enum(["aws", "ldap"]),
  endpoint: z.string().regex(/^(http|https):\/\/.*$/, { message: "must start with http:// or https://" }),
  secretRef: localObjectReference.optional(),
  certSecretRef: localObjectReference.optional(),
});

/** The CRD's CEL rules over the spec, each with its message; `provider` is defaulted before they are checked. */
const RULES: { holds(spec: z.infer<typeof bucketFields>): boolean; message: string }[] = [
  {
    holds: (s) => ["aws", "generic"].includes(providerOf(s)) || !s.sts,
    message: "STS configuration is only supported for the 'aws' and 'generic' Bucket providers",
  },
  {
    holds: (s) => providerOf(s) !== "aws" || !s.sts || s.sts.provider === "aws",
    message: "'aws' is the only supported STS provider for the 'aws' Bucket provider",
  },
  {
    holds: (s) => providerOf(s) !== "generic" || !s.sts || s.sts.provider === "ldap",
    message: "'ldap' is the only supported STS provider for the 'generic' Bucket provider",
  },
  {
    holds: (s) => !s.sts || s.sts.provider !== "aws" || !s.sts.secretRef,
    message: "spec.sts.secretRef is not required for the 'aws' STS provider",
  },
  {
    holds: (s) => !s.sts || s.sts.provider !== "aws" || !s.sts.certSecretRef,
    message: "spec.sts.certSecretRef is not required for the 'aws' STS provider",
  },
  {
    holds: (s) => providerOf(s) !== "generic" || s.serviceAccountName === undefined,
    message: "ServiceAccountName is not supported for the 'generic' Bucket provider",
  },
  {
    holds: (s) => !s.secretRef || s.serviceAccountName === undefined,
    message: "cannot set both .spec.secretRef and .spec.serviceAccountName",
  },
];

const bucketFields = z.strictObject({
  provider: z.enum(["generic", "aws", "gcp", "azure"]).optional(),
  bucketName: z.string(),
  endpoint: z.string(),
  sts: bucketSts.optional(),
  insecure: z.boolean().optional(),
  region: z.string().optional(),
  prefix: z.string().optional(),
  secretRef: localObjectReference.optional(),
  serviceAccountName: z.string().optional(),
  certSecretRef: localObjectReference.optional(),
  proxySecretRef: localObjectReference.optional(),
  interval: duration,
  timeout: minutesDuration.optional(),
  ignore: z.string().optional(),
  suspend: z.boolean().optional(),
});

/** `source.toolkit.fluxcd.io/v1` Bucket spec. */
export const bucketSpec = bucketFields.superRefine((spec, ctx) => {
  for (const rule of RULES) if (!rule.holds(spec)) ctx.addIssue({ code: "custom", message: rule.message });
});

export const bucketStatus = z.strictObject({
  ...commonStatus,
  url: z.string().optional(),
  artifact: artifact.optional(),
  observedIgnore: z.string().optional(),
});

export const bucket = fluxObject(BUCKET_API_VERSION, "Bucket", bucketSpec, bucketStatus);
export type Bucket = z.infer<typeof bucket>;

type Provider = NonNullable<z.infer<typeof bucketFields>["provider"]>;

function providerOf(spec: { provider?: Provider }): Provider {
  return spec.provider ?? DEFAULT_PROVIDER;
}

/** The CRD's defaults, filled in as Flux's API server does: `provider` generic, `timeout` 60s. */
export function withBucketDefaults(object: Bucket): Bucket {
  const { spec } = object;
  return { ...object, spec: { ...spec, provider: providerOf(spec), timeout: spec.timeout ?? DEFAULT_TIMEOUT } };
}

/** What source-controller uses when a field is unset: the generic provider, a 60s timeout. */
export function bucketDefaults(spec: Bucket["spec"]): { provider: string; timeout: string } {
  return { provider: providerOf(spec), timeout: spec.timeout ?? DEFAULT_TIMEOUT };
}
