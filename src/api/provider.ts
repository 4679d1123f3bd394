import { z } from "zod";
import { duration, minutesDuration } from "./duration.js";
import { commonStatus, fluxObject, localObjectReference } from "./meta.js";

// notification-controller v1.9's Provider (notification.toolkit.fluxcd.io/v1beta3), field for field as its
// CRD (test/fixtures/flux-crds) validates it, CEL rule included. Like Alert, Flux keeps no status for it;
// Sluice keeps Ready in its Store.

export const PROVIDER_API_VERSION = "notification.toolkit.fluxcd.io/v1beta3";

/** Every provider type the CRD admits; which of them Sluice delivers to is decided in unsupported.ts. */
const PROVIDER_TYPES = [
  "slack",
  "discord",
  "msteams",
  "rocket",
  "generic",
  "generic-hmac",
  "github",
  "gitlab",
  "gitea",
  "giteapullrequestcomment",
  "bitbucketserver",
  "bitbucket",
  "azuredevops",
  "googlechat",
  "googlepubsub",
  "webex",
  "sentry",
  "azureeventhub",
  "telegram",
  "lark",
  "matrix",
  "opsgenie",
  "alertmanager",
  "grafana",
  "githubdispatch",
  "githubpullrequestcomment",
  "gitlabmergerequestcomment",
  "pagerduty",
  "datadog",
  "nats",
  "zulip",
  "otel",
] as const;

/** The types that may set commitStatusExpr (the CRD's CEL rule). */
export const COMMIT_STATUS_TYPES: readonly string[] = [
  "github",
  "gitlab",
  "gitea",
  "bitbucketserver",
  "bitbucket",
  "azuredevops",
];

/** `notification.toolkit.fluxcd.io/v1beta3` Provider spec. */
export const providerSpec = z
  .strictObject({
    type: z.enum(PROVIDER_TYPES),
    interval: duration.optional(),
    channel: z.string().max(2048).optional(),
    username: z.string().max(2048).optional(),
    address: z.string().max(2048).optional(),
    timeout: minutesDuration.optional(),
    proxy: z
      .string()
      .max(2048)
      .regex(/^(http|https):\/\/.*$/, { message: "must start with http:// or https://" })
      .optional(),
    proxySecretRef: localObjectReference.optional(),
    secretRef: localObjectReference.optional(),
    serviceAccountName: z.string().optional(),
    certSecretRef: localObjectReference.optional(),
    suspend: z.boolean().optional(),
    commitStatusExpr: z.string().optional(),
  })
  .refine((s) => COMMIT_STATUS_TYPES.includes(s.type) || s.commitStatusExpr === undefined, {
    message:
      "spec.commitStatusExpr is only supported for the 'github', 'gitlab', 'gitea', 'bitbucketserver', 'bitbucket', 'azuredevops' provider types",
  });

export const provider = fluxObject(PROVIDER_API_VERSION, "Provider", providerSpec, z.strictObject({ ...commonStatus }));
export type Provider = z.infer<typeof provider>;
