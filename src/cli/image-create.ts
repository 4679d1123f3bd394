import type { Command } from "commander";
import type { KubeObject } from "../apply/object.js";
import { IMAGE_API_VERSION } from "../api/image-api.js";
import { DIGEST_REFLECTION_POLICIES } from "../api/imagepolicy.js";
import { GoRegexp, GoRegexpError } from "../sources/image/go-regexp.js";
import { ImageNameError, parseImageName } from "../sources/image/image-name.js";
import { globals } from "./context.js";
import { admitted, register } from "./create.js";
import { marshalYaml } from "../api/values-digest.js";
import { goDuration, labelsOf } from "./manifests.js";

// `sluice create image repository|policy` as `flux create image repository|policy` (flux2 v2.9
// cmd/flux/create_image_repository.go, create_image_policy.go): the same fields from the same flags, the
// same checks and messages; --export prints what flux prints, byte for byte (sigs.k8s.io/yaml's order and quoting).

interface CreateFlags {
  label?: string[];
  export: boolean;
}

/** The flags of `sluice create image repository`. */
export interface CreateImageRepositoryFlags extends CreateFlags {
  image?: string;
  secretRef?: string;
  certRef?: string;
  scanTimeout?: string;
  interval: string;
}

/** The flags of `sluice create image policy`. */
export interface CreateImagePolicyFlags extends CreateFlags {
  imageRef?: string;
  selectSemver?: string;
  selectAlpha?: string;
  selectNumeric?: string;
  filterRegex?: string;
  filterExtract?: string;
  reflectDigest?: string;
  interval?: string;
}

export function imageRepositoryManifest(
  name: string,
  namespace: string,
  flags: CreateImageRepositoryFlags,
): KubeObject {
  if (!flags.image) throw new Error("an image repository (--image) is required");
  try {
    parseImageName(flags.image);
  } catch (error) {
    if (!(error instanceof ImageNameError)) throw error;
    throw new Error(`unable to parse image value: ${error.message}`, { cause: error });
  }
  return {
    apiVersion: IMAGE_API_VERSION,
    kind: "ImageRepository",
    metadata: { ...labelsOf(flags.label), name, namespace },
    spec: {
      ...(flags.certRef && { certSecretRef: { name: flags.certRef } }),
      image: flags.image,
      interval: goDuration(flags.interval, "--interval"),
      ...(flags.secretRef && { secretRef: { name: flags.secretRef } }),
      ...(flags.scanTimeout && { timeout: goDuration(flags.scanTimeout, "--scan-timeout") }),
    },
  };
}

export function imagePolicyManifest(name: string, namespace: string, flags: CreateImagePolicyFlags): KubeObject {
  if (!flags.imageRef) throw new Error("the name of an ImageRepository in the namespace is required (--image-ref)");
  const { selectSemver: semver, selectAlpha: alpha, selectNumeric: numeric } = flags;
  const order = (value: string, flag: string) => {
    if (value !== "asc" && value !== "desc") throw new Error(`${flag} must be one of ["asc", "desc"]`);
    return { order: value };
  };
  let policy: Record<string, unknown>;
  // flux's switch: semver with alpha, or semver with numeric, matches a case that sets no policy at all.
  if (semver && (alpha || numeric)) policy = {};
  else if (alpha && numeric)
    throw new Error("only one of --select-semver, --select-alpha or --select-numeric can be specified");
  else if (semver) policy = { semver: { range: semver } };
  else if (alpha) policy = { alphabetical: order(alpha, "--select-alpha") };
  else if (numeric) policy = { numerical: order(numeric, "--select-numeric") };
  else throw new Error("a policy must be provided with either --select-semver or --select-alpha");
  let filterTags: Record<string, string> | undefined;
  if (flags.filterRegex) {
    let groups: string[];
    try {
      groups = GoRegexp.compile(flags.filterRegex).groupNames();
    } catch (error) {
      if (!(error instanceof GoRegexpError)) throw error;
      throw new Error("--filter-regex is an invalid regex pattern", { cause: error });
    }
    if (flags.filterExtract) checkExtract(flags.filterExtract, groups);
    // Neither field is omitempty in flux's TagFilter: an unset extract is written as "".
    filterTags = { extract: flags.filterExtract ?? "", pattern: flags.filterRegex };
  } else if (flags.filterExtract) throw new Error("cannot specify --filter-extract without specifying --filter-regex");
  const reflect = flags.reflectDigest;
  if (reflect && !(DIGEST_REFLECTION_POLICIES as readonly string[]).includes(reflect))
    throw new Error("invalid value for --reflect-digest, must be one of 'Never', 'IfNotPresent', 'Always'");
  const interval = flags.interval ? goDuration(flags.interval, "--interval") : undefined;
  if (interval && interval !== "0s" && reflect !== "Always")
    throw new Error(
      "the --interval flag can only be used with the 'Always' digest reflection policy, use --reflect-digest=Always",
    );
  return {
    apiVersion: IMAGE_API_VERSION,
    kind: "ImagePolicy",
    metadata: { ...labelsOf(flags.label), name, namespace },
    spec: {
      ...(reflect && { digestReflectionPolicy: reflect }),
      ...(filterTags && { filterTags }),
      imageRepositoryRef: { name: flags.imageRef },
      ...(interval && interval !== "0s" && { interval }),
      policy,
    },
  };
}

/**
 * flux's validateExtractStr: each `$name` or `${name}` of the template must be a named group of the pattern
 * (numbers are not checked), and `$` must start a name.
 */
function checkExtract(template: string, groups: string[]): void {
  for (let at = template.indexOf("$"); at >= 0; at = template.indexOf("$", at)) {
    if (template[at + 1] === "$") {
      at += 2;
      continue;
    }
    const reference = /^\$(?:\{([\p{L}\p{N}_]+)\}|([\p{L}\p{N}_]+))/u.exec(template.slice(at));
    if (!reference) throw new Error("--filter-extract is malformed");
    const name = reference[1] ?? reference[2]!;
    const numbered = /^(0|[1-9][0-9]{0,8})$/.test(name);
    if (!numbered && !groups.includes(name))
      throw new Error(`capture group $${name} used in --filter-extract not found in --filter-regex`);
    at += reference[0].length;
  }
}

/** `sluice create image repository NAME`: registers the ImageRepository, or prints it with --export. */
export async function createImageRepository(
  name: string,
  flags: CreateImageRepositoryFlags,
  command: Command,
): Promise<void> {
  const object = imageRepositoryManifest(name, globals(command).namespace, flags);
  if (flags.export) return printExport(object);
  await register(admitted(object), command);
}

/** `sluice create image policy NAME`: registers the ImagePolicy, or prints it with --export. */
export async function createImagePolicy(name: string, flags: CreateImagePolicyFlags, command: Command): Promise<void> {
  const object = imagePolicyManifest(name, globals(command).namespace, flags);
  if (flags.export) return printExport(object);
  await register(admitted(object), command);
}

function printExport(object: KubeObject): void {
  process.stdout.write(`---\n${marshalYaml(object).replace(/[\t\n\v\f\r \u0085\u00a0]+$/, "")}\n`);
}
