// Receiver `spec.type`s, without zod, so the CLI's flag definitions (loaded at start) can list them too.

export const GENERIC_OIDC = "generic-oidc";

/** notification-controller v1.9's Receiver types (the CRD's enum). */
export const RECEIVER_TYPES = [
  "generic",
  "generic-hmac",
  GENERIC_OIDC,
  "github",
  "gitlab",
  "bitbucket",
  "harbor",
  "dockerhub",
  "quay",
  "gcr",
  "nexus",
  "acr",
  "cdevents",
] as const;
