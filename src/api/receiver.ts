import { z } from "zod";
import { duration } from "./duration.js";
import { commonStatus, fluxObject, localObjectReference } from "./meta.js";

export const RECEIVER_API_VERSION = "notification.toolkit.fluxcd.io/v1";

/** `notification.toolkit.fluxcd.io/v1` Receiver spec: the fields Flux documents. */
export const receiverSpec = z.strictObject({
  type: z.enum([
    "generic",
    "generic-hmac",
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
  ]),
  interval: duration.optional(),
  events: z.array(z.string()).optional(),
  resources: z.array(
    z.strictObject({
      apiVersion: z.string().optional(),
      kind: z.string().min(1),
      name: z.string().min(1),
      namespace: z.string().optional(),
      matchLabels: z.record(z.string(), z.string()).optional(),
    }),
  ),
  resourceFilter: z.string().optional(),
  secretRef: localObjectReference,
  suspend: z.boolean().optional(),
});

export const receiver = fluxObject(
  RECEIVER_API_VERSION,
  "Receiver",
  receiverSpec,
  z.strictObject({ ...commonStatus, webhookPath: z.string().optional() }),
);
export type Receiver = z.infer<typeof receiver>;
