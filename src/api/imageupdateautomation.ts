import { z } from "zod";
import { duration } from "./duration.js";
import { gitRepositoryRef } from "./gitrepository.js";
import { imageObject } from "./image-api.js";
import { imageRef } from "./imagepolicy.js";
import { commonStatus, localObjectReference } from "./meta.js";

// image-automation-controller v1.2.4's ImageUpdateAutomation, field for field as its CRD
// (test/fixtures/flux-crds) validates it. Flux v2.9 serves v1 only; v1beta1 and v1beta2, which fleet
// repos still hold, are admitted too (image-api.ts): their fields are a subset of v1's (v1beta1 lacks
// policySelector and messageTemplateValues, both lack signingKey.type).

/** metav1.LabelSelector, as the CRD spells it. */
const labelSelector = z.strictObject({
  matchLabels: z.record(z.string(), z.string()).optional(),
  matchExpressions: z
    .array(
      z.strictObject({
        key: z.string(),
        operator: z.string(),
        values: z.array(z.string()).optional(),
      }),
    )
    .optional(),
});
export type LabelSelector = z.infer<typeof labelSelector>;

/**
 * Sluice's extension `spec.git.push.pullRequest`: open or update one pull request (a GitLab merge request) from the
 * push branch into the checkout branch. Not in Flux's CRD: on a cluster running Flux the API server prunes it, and
 * Flux only pushes.
 */
export const pullRequestSpec = z.strictObject({
  provider: z.enum(["github", "gitlab"]),
  /** A Secret in the automation's namespace with `token` (allowed to open pull or merge requests). */
  secretRef: localObjectReference,
  /** The branch the pull request merges into. @default the checkout branch */
  base: z.string().min(1).optional(),
  /** The pull request's title. @default the commit message's first line */
  title: z.string().min(1).max(256).optional(),
  /** The REST API root. @default https://api.github.com for github, `<repository origin>/api/v4` for gitlab */
  apiURL: z
    .string()
    .regex(/^https?:\/\//, { message: "must start with https:// or http://" })
    .optional(),
});
export type PullRequestSpec = z.infer<typeof pullRequestSpec>;

const gitSpec = z.strictObject({
  checkout: z.strictObject({ ref: gitRepositoryRef }).optional(),
  commit: z.strictObject({
    author: z.strictObject({ email: z.string(), name: z.string().optional() }),
    signingKey: z.strictObject({ secretRef: localObjectReference, type: z.enum(["gpg", "ssh"]).optional() }).optional(),
    messageTemplate: z.string().optional(),
    messageTemplateValues: z.record(z.string(), z.string()).optional(),
  }),
  push: z
    .strictObject({
      branch: z.string().optional(),
      refspec: z
        .string()
        .regex(/^$|^[^+:]/, { message: "must not start with '+' or ':' (no force or deletion refspecs)" })
        .optional(),
      options: z.record(z.string(), z.string()).optional(),
      pullRequest: pullRequestSpec.optional(),
    })
    .optional(),
});

export const imageUpdateAutomationSpec = z.strictObject({
  sourceRef: z.strictObject({
    apiVersion: z.string().optional(),
    // Required by the CRD, with a default: never missing once admitted.
    kind: z.enum(["GitRepository"]).optional(),
    name: z.string(),
    namespace: z.string().optional(),
  }),
  git: gitSpec.optional(),
  interval: duration,
  policySelector: labelSelector.optional(),
  update: z.strictObject({ path: z.string().optional(), strategy: z.enum(["Setters"]).optional() }).optional(),
  suspend: z.boolean().optional(),
});

export const imageUpdateAutomationStatus = z.strictObject({
  ...commonStatus,
  lastAutomationRunTime: z.iso.datetime({ offset: true }).optional(),
  lastPushCommit: z.string().optional(),
  lastPushTime: z.iso.datetime({ offset: true }).optional(),
  observedPolicies: z.record(z.string(), imageRef).optional(),
  observedSourceRevision: z.string().optional(),
  /** Sluice's extension: the pull request the automation keeps up to date (spec.git.push.pullRequest). */
  pullRequest: z.strictObject({ number: z.number().int(), url: z.string() }).optional(),
});

export const imageUpdateAutomation = imageObject(
  "ImageUpdateAutomation",
  imageUpdateAutomationSpec,
  imageUpdateAutomationStatus,
);
export type ImageUpdateAutomation = z.infer<typeof imageUpdateAutomation>;

/** The CRD's defaults, filled in as Flux's API server does: `sourceRef.kind` GitRepository, `update.strategy` Setters. */
export function withImageUpdateAutomationDefaults(auto: ImageUpdateAutomation): ImageUpdateAutomation {
  const { spec } = auto;
  return {
    ...auto,
    spec: {
      ...spec,
      sourceRef: { ...spec.sourceRef, kind: spec.sourceRef.kind ?? "GitRepository" },
      update: { ...spec.update, strategy: spec.update?.strategy ?? "Setters" },
    },
  };
}
