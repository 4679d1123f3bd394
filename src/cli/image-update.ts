import type { Command } from "commander";
import type { KubeObject } from "../apply/object.js";
import { globals } from "./context.js";
import { admitted, register } from "./create.js";
import { exportYaml, goDuration, labelsOf } from "./manifests.js";

// `sluice create image update` as `flux create image update` (flux2 v2.9 cmd/flux/create_image_update.go): the
// same fields from the same flags, the same checks and messages.

/** The flags of `sluice create image update` (defined in commands/create.ts). */
export interface CreateImageUpdateFlags {
  gitRepoRef?: string;
  gitRepoNamespace?: string;
  gitRepoPath?: string;
  checkoutBranch?: string;
  pushBranch?: string;
  commitTemplate?: string;
  authorName?: string;
  authorEmail?: string;
  signingKeySecret?: string;
  signingKeyType?: string;
  interval: string;
  label?: string[];
  export: boolean;
}

export function imageUpdateManifest(name: string, namespace: string, flags: CreateImageUpdateFlags): KubeObject {
  if (!flags.gitRepoRef) throw new Error("a reference to a GitRepository is required (--git-repo-ref)");
  if (!flags.checkoutBranch) throw new Error("the Git repository branch is required (--checkout-branch)");
  if (!flags.authorName) throw new Error("the author name is required (--author-name)");
  if (!flags.authorEmail) throw new Error("the author email is required (--author-email)");
  if (flags.signingKeyType && !flags.signingKeySecret)
    throw new Error("--signing-key-type requires --signing-key-secret");
  if (flags.signingKeyType && !["gpg", "ssh"].includes(flags.signingKeyType))
    throw new Error("--signing-key-type must be one of: gpg, ssh");
  return {
    apiVersion: "image.toolkit.fluxcd.io/v1",
    kind: "ImageUpdateAutomation",
    metadata: { ...labelsOf(flags.label), name, namespace },
    spec: {
      git: {
        checkout: { ref: { branch: flags.checkoutBranch } },
        commit: {
          author: { email: flags.authorEmail, name: flags.authorName },
          ...(flags.commitTemplate && { messageTemplate: flags.commitTemplate }),
          ...(flags.signingKeySecret && {
            signingKey: {
              secretRef: { name: flags.signingKeySecret },
              ...(flags.signingKeyType && { type: flags.signingKeyType }),
            },
          }),
        },
        ...(flags.pushBranch && { push: { branch: flags.pushBranch } }),
      },
      interval: goDuration(flags.interval, "--interval"),
      sourceRef: {
        kind: "GitRepository",
        name: flags.gitRepoRef,
        ...(flags.gitRepoNamespace && { namespace: flags.gitRepoNamespace }),
      },
      ...(flags.gitRepoPath && { update: { path: flags.gitRepoPath, strategy: "Setters" } }),
    },
  };
}

/** `sluice create image update NAME`: registers the ImageUpdateAutomation, or prints it with --export. */
export async function createImageUpdate(name: string, flags: CreateImageUpdateFlags, command: Command): Promise<void> {
  const object = imageUpdateManifest(name, globals(command).namespace, flags);
  if (flags.export) {
    process.stdout.write(exportYaml([object]));
    return;
  }
  await register(admitted(object), command);
}
