import { ChartReferenceError, newestMatchingTag } from "../helm-chart-version.js";
import { parseVersion } from "../helm-index.js";
import { OciError, type OciClient } from "./client.js";

// A chart from an OCI HelmRepository, as source-controller's OCIChartRepository and Helm's registry
// client do it: `spec.version` that is a version is pulled as that tag without listing any; a range
// picks the newest of the repository's SemVer tags (Helm writes SemVer's `+` as `_` in a tag); the
// chart is the manifest's Helm chart layer.

/** Helm's chart layer, and the media type Helm 3.0–3.7 pushed charts with. */
export const HELM_CHART_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
const LEGACY_CHART_LAYER = "application/tar+gzip";
/** A strict SemVer 2 version, the only tags Helm's registry client lists. */
const STRICT_SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$/;

/**
 * The chart version `version` names (`*` or empty: the newest stable): itself, without a request,
 * when it is a version; else a tag written exactly as `version`, or the newest tag the constraint
 * allows. Throws OciError when there is none (an external error in Flux: ChartPullError, retried).
 */
export async function ociChartVersion(client: OciClient, chart: string, version: string): Promise<string> {
  if (version !== "" && parseVersion(version) !== null) return version;
  let tags: string[];
  try {
    tags = (await client.tags()).map((t) => t.replaceAll("_", "+")).filter((t) => STRICT_SEMVER.test(t));
  } catch (error) {
    throw new OciError(
      `could not get tags for "${chart}": ${(error as Error).message}`,
      (error as OciError).unauthorized,
    );
  }
  if (tags.length === 0) throw new OciError(`unable to locate any tags in provided repository: ${chart}`);
  if (version !== "" && tags.includes(version)) return version;
  let picked: string | undefined;
  try {
    picked = newestMatchingTag(tags, version === "" ? "*" : version);
  } catch (error) {
    if (error instanceof ChartReferenceError) throw new OciError(error.message);
    throw error;
  }
  if (picked === undefined)
    throw new OciError(`could not locate a version matching provided version string ${version}`);
  return picked;
}

/** The tag of a chart version: Helm writes SemVer's `+` as `_`. */
export function ociChartTag(version: string): string {
  return version.replaceAll("+", "_");
}

/**
 * The chart archive of `version` (or of the manifest `digest` its tag was resolved to, when the signature of
 * that digest was verified): its manifest's chart layer, verified against digest and size.
 */
export async function pullOciChart(
  client: OciClient,
  version: string,
  maxBytes: number,
  digest?: string,
): Promise<Buffer> {
  const { manifest } = await client.manifest(digest ?? ociChartTag(version));
  const layer =
    manifest.layers.find((l) => l.mediaType === HELM_CHART_LAYER) ??
    manifest.layers.find((l) => l.mediaType === LEGACY_CHART_LAYER);
  if (!layer) throw new OciError(`manifest does not contain a layer with mediatype ${HELM_CHART_LAYER}`);
  return client.blob(layer, maxBytes);
}
