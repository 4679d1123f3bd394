import semver from "semver";
import type { ImagePolicy } from "../../api/imagepolicy.js";
import { ChartReferenceError, semverConstraint } from "../helm-chart-version.js";
import { GoRegexp, GoRegexpError } from "./go-regexp.js";

// image-reflector-controller's policies (internal/policy): which tag of a scanned repository an
// ImagePolicy picks — the highest version in a semver range, the last or first tag in alphabetical
// order, the highest or lowest number — after `filterTags` kept (and `extract` rewrote) some of them.
// Ties go to the first tag in the order given, as Flux's loops keep the first of equals.

/** The policy cannot work as written (Flux's errInvalidPolicy: the ImagePolicy stalls). */
export class InvalidPolicyError extends Error {
  override name = "InvalidPolicyError";
}

/** No tag could be picked from the list (Flux's policer errors: the ImagePolicy fails, and retries). */
export class NoLatestTagError extends Error {
  override name = "NoLatestTagError";
}

type Spec = Pick<ImagePolicy["spec"], "policy" | "filterTags">;
/** Picks the latest of a list of tags. */
export type Policer = (tags: readonly string[]) => string;

/**
 * The tag `spec` picks from `tags` (the original tag, when `filterTags.extract` rewrote it). Throws
 * InvalidPolicyError for a policy Flux refuses, NoLatestTagError when nothing can be picked.
 */
export function latestTag(spec: Spec, tags: readonly string[]): string {
  return tagPolicy(spec)(tags);
}

/** The policy of `spec`, read once for any number of tag lists; throws InvalidPolicyError for one Flux refuses. */
export function tagPolicy(spec: Spec): Policer {
  const pick = policerOf(spec.policy);
  if (!spec.filterTags) return pick;
  const { pattern = "", extract = "" } = spec.filterTags;
  let filter: GoRegexp;
  try {
    filter = GoRegexp.compile(pattern);
  } catch (error) {
    if (!(error instanceof GoRegexpError)) throw error;
    throw new InvalidPolicyError(
      `failed to filter tags: invalid regular expression pattern '${pattern}': ${error.message}`,
    );
  }
  return (tags) => {
    // Keyed by the extracted value; a later tag with the same value replaces an earlier one, as in Flux.
    const originals = new Map<string, string>();
    for (const tag of tags) {
      const value = extract === "" ? (filter.test(tag) ? tag : undefined) : filter.expand(tag, extract);
      if (value !== undefined) originals.set(value, tag);
    }
    return originals.get(pick([...originals.keys()]))!;
  };
}

function policerOf(choice: Spec["policy"]): Policer {
  if (choice.semver) return semverPolicer(choice.semver.range);
  if (choice.alphabetical) return alphabetical(choice.alphabetical.order ?? "asc");
  if (choice.numerical) return numerical(choice.numerical.order ?? "asc");
  throw new InvalidPolicyError("invalid policy: given ImagePolicyChoice object is invalid");
}

const nonEmpty = (tags: readonly string[]) => {
  if (tags.length === 0) throw new NoLatestTagError("version list argument cannot be empty");
};

function semverPolicer(range: string): Policer {
  let allows: (version: semver.SemVer) => boolean;
  try {
    allows = semverConstraint(range);
  } catch (error) {
    if (!(error instanceof ChartReferenceError)) throw error;
    throw new InvalidPolicyError(`invalid policy: ${error.message}`);
  }
  return (tags) => {
    nonEmpty(tags);
    let latest: { tag: string; version: semver.SemVer } | undefined;
    for (const tag of tags) {
      const version = parseTagVersion(tag);
      if (version && allows(version) && (!latest || semver.compare(version, latest.version) > 0))
        latest = { tag, version };
    }
    if (!latest) throw new NoLatestTagError("unable to determine latest version from provided list");
    return latest.tag;
  };
}

/** Masterminds' NewVersion (coercing): `v` prefix, leading zeros and missing minor/patch allowed. */
const MASTERMINDS_VERSION =
  /^v?([0-9]+)(?:\.([0-9]+))?(?:\.([0-9]+))?(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$/;
const MAX_VERSION_LENGTH = 256;

/**
 * A tag as a version, as fluxcd/pkg/version.ParseVersion reads it: it must have (at least) three
 * dot-separated parts, then Masterminds' NewVersion parses it — so `1.2` is not a version, `v1.2.3`
 * and `01.2.3` are, a numeric pre-release identifier may not start with 0. null when it is not one.
 * Where node-semver would read it otherwise (`loose` takes `1.2.3beta`), the Masterminds grammar
 * decides; a number above 2^53 (Masterminds goes to 2^64) is not taken.
 */
export function parseTagVersion(tag: string): semver.SemVer | null {
  if (tag.length > MAX_VERSION_LENGTH || tag.split(".", 3).length < 3) return null;
  const m = MASTERMINDS_VERSION.exec(tag);
  if (!m) return null;
  const [, major, minor = "0", patch = "0", pre, build] = m;
  const number = (digits: string) => digits.replace(/^0+(?=\d)/, "");
  const text = `${number(major!)}.${number(minor)}.${number(patch)}${pre ? `-${pre}` : ""}${build ? `+${build}` : ""}`;
  try {
    return semver.parse(text, { loose: false });
  } catch {
    return null;
  }
}

function alphabetical(order: string): Policer {
  const desc = order.toUpperCase() === "DESC";
  return (tags) => {
    nonEmpty(tags);
    let latest = tags[0]!;
    for (const tag of tags) if (desc ? tag < latest : tag > latest) latest = tag;
    return latest;
  };
}

function numerical(order: string): Policer {
  const asc = order.toUpperCase() !== "DESC";
  return (tags) => {
    nonEmpty(tags);
    let latest = "";
    let previous = 0;
    tags.forEach((tag, i) => {
      const value = parseGoFloat(tag);
      if (value === undefined) throw new NoLatestTagError(`failed to parse invalid numeric value '${tag}'`);
      // Flux's loop: each value not ordered before the one kept replaces it, so the last of equals wins.
      if (i > 0 && (asc ? value < previous : value > previous)) return;
      latest = tag;
      previous = value;
    });
    return latest;
  };
}

const DECIMAL = /^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;
const HEX = /^[+-]?0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)[pP][+-]?[0-9]+$/;
/** Go takes a sign before `inf` but not before `nan`. */
const SPECIAL = /^(?:[+-]?(?:inf|infinity)|nan)$/i;

/**
 * Go's strconv.ParseFloat(s, 64): decimal and hexadecimal (with a `p` exponent) literals, `inf`,
 * `infinity`, `nan` (no underscores: Go takes them only after a base prefix); a value out of float64's range is an
 * error there, so undefined here.
 */
export function parseGoFloat(text: string): number | undefined {
  if (SPECIAL.test(text)) {
    const negative = text.startsWith("-");
    if (/nan/i.test(text)) return Number.NaN;
    return negative ? -Infinity : Infinity;
  }
  if (DECIMAL.test(text)) {
    const value = Number(text);
    return Number.isFinite(value) ? value : undefined;
  }
  if (HEX.test(text)) {
    const negative = text.startsWith("-");
    const [mantissa = "", exponent = "0"] = text.replace(/^[+-]?0[xX]/, "").split(/[pP]/);
    const [whole = "", fraction = ""] = mantissa.split(".");
    const digits = whole + fraction;
    const value = (digits === "" ? 0 : Number.parseInt(digits, 16)) * 2 ** (Number(exponent) - 4 * fraction.length);
    if (!Number.isFinite(value)) return undefined;
    return negative ? -value : value;
  }
  return undefined;
}
