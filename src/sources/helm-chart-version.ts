import semver from "semver";
import { parseVersion, type HelmIndex } from "./helm-index.js";

// Which chart version a HelmChart's `spec.version` picks from a repository index, as
// source-controller's ChartRepository.GetChartVersion does with Masterminds/semver v3 — which reads
// a range differently from node-semver in three ways handled here: `,` joins comparators (AND), `!=`
// excludes a version (or, partial, `!=1.2`, all of 1.2.x), and a pre-release version is only
// considered by a group of comparators one of which names a pre-release.

/** One version of a chart as the index lists it. */
export type IndexedChartVersion = HelmIndex["entries"][string][number];

/** Why no version was picked: the chart is not in the index, or no version matches, or the range is not a range. */
export class ChartReferenceError extends Error {
  override name = "ChartReferenceError";
}

/**
 * The version of `chart` that `range` picks: a version written exactly as `range` first; else the
 * newest that satisfies it (`*` or empty: the newest stable one), the most recently created of
 * equal versions (build metadata does not order them).
 */
export function pickChartVersion(index: HelmIndex, chart: string, range: string): IndexedChartVersion {
  const versions = index.entries[chart];
  if (!versions) throw new ChartReferenceError("no chart name found");
  if (versions.length === 0) throw new ChartReferenceError("no chart version found");
  const exact = range !== "" && versions.find((v) => v.version === range);
  if (exact) return exact;
  const groups = orGroups(range === "" ? "*" : range);
  const matching = versions
    .map((v) => ({ v, parsed: parseVersion(v.version!) }))
    .filter((c): c is { v: IndexedChartVersion; parsed: semver.SemVer } => c.parsed !== null)
    .filter(({ parsed }) => groups.some((group) => satisfies(parsed, group)));
  if (matching.length === 0)
    throw new ChartReferenceError(`no '${chart}' chart with version matching '${range}' found`);
  matching.sort((a, b) => semver.rcompare(a.parsed, b.parsed) || createdAt(b.v) - createdAt(a.v));
  return matching[0]!.v;
}

/**
 * The newest of `tags` (OCI tags) that `range` allows, as a Masterminds constraint, written as the tag
 * is; undefined when none does. A tag that is not a version is skipped. Throws ChartReferenceError
 * when `range` is not a constraint.
 */
export function newestMatchingTag(tags: string[], range: string): string | undefined {
  const allows = semverConstraint(range);
  const matching = tags
    .map((tag) => ({ tag, parsed: parseVersion(tag) }))
    .filter((c): c is { tag: string; parsed: semver.SemVer } => c.parsed !== null)
    .filter(({ parsed }) => allows(parsed));
  matching.sort((a, b) => semver.rcompare(a.parsed, b.parsed));
  return matching[0]?.tag;
}

/**
 * A Masterminds constraint, read once: whether a version satisfies it (empty: any stable version). Throws
 * ChartReferenceError when `range` is not a constraint.
 */
export function semverConstraint(range: string): (version: semver.SemVer) => boolean {
  const groups = orGroups(range === "" ? "*" : range);
  return (version) => groups.some((group) => satisfies(version, group));
}

/** One `||` group of a constraint, read once: a node-semver range, and whether it lets pre-releases in. */
interface Group {
  range: semver.Range;
  prerelease: boolean;
}

/** A Masterminds constraint as node-semver ranges, one per `||` group; refused when one is not a range. */
function orGroups(range: string): Group[] {
  return range.split("||").flatMap((group) => {
    const comparators = group
      .replaceAll(",", " ")
      .replace(/(!=|>=|<=|~>|[<>=~^])\s+/g, "$1")
      .trim()
      .split(/\s+/);
    // Masterminds v3.5 (NewConstraint's hasPre): one comparator naming a pre-release opens its whole group to them.
    const prerelease = comparators.some((c) => /\d/.test(c) && c.includes("-"));
    return withoutNotEqual(comparators).map((anded) => {
      try {
        return { range: new semver.Range(anded, { loose: true, includePrerelease: prerelease }), prerelease };
      } catch {
        throw new ChartReferenceError(`improper constraint: ${range}`);
      }
    });
  });
}

/** node-semver has no `!=`: a group with `!=V` is the same group with `<V`, or with `>V`. */
function withoutNotEqual(comparators: string[]): string[] {
  const at = comparators.findIndex((c) => c.startsWith("!="));
  if (at < 0) return [comparators.join(" ")];
  const version = comparators[at]!.slice(2);
  return [`<${version}`, `>${version}`].flatMap((replacement) =>
    withoutNotEqual(comparators.map((c, i) => (i === at ? replacement : c))),
  );
}

function satisfies(version: semver.SemVer, group: Group): boolean {
  if (version.prerelease.length > 0 && !group.prerelease) return false;
  return group.range.test(version);
}

function createdAt(v: IndexedChartVersion): number {
  const time = v.created ? Date.parse(v.created) : NaN;
  return Number.isNaN(time) ? 0 : time;
}
