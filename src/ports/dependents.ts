import type { HelmChart } from "../api/helmchart.js";
import type { HelmRelease } from "../api/helmrelease.js";
import type { ImagePolicy } from "../api/imagepolicy.js";
import type { Kustomization } from "../api/kustomization.js";
import { formatKey, type ObjectKey } from "../api/object-key.js";

/**
 * Who to wake when an object changes: the Kustomizations using a source or depending on a
 * Kustomization, the HelmCharts built from a source, the HelmReleases using a HelmChart or depending on a
 * HelmRelease — so a change wakes its dependents without
 * listing the whole Store. Learned from each object as it is reconciled.
 */
export interface DependentsIndex {
  /** Records what an object points at (Store keys, from {@link targetsOf}), replacing what it had before. */
  record(key: ObjectKey, targets: string[]): Promise<void>;
  forget(key: ObjectKey): Promise<void>;
  /** Keys of the objects that point at `key`, sorted. */
  of(key: ObjectKey): Promise<string[]>;
}

/**
 * What an object points at whose change should reconcile it, as Store keys: a Kustomization's
 * source and each dependsOn, a HelmChart's source. Undefined for kinds nothing wakes (or an object
 * whose spec has no reference yet).
 */
export function targetsOf(key: ObjectKey, spec: unknown): string[] | undefined {
  const ref = (kind: string, target: { namespace?: string; name: string }) =>
    formatKey({ kind, namespace: target.namespace ?? key.namespace, name: target.name });
  if (key.kind === "Kustomization") {
    const { sourceRef, dependsOn } = (spec ?? {}) as Partial<Kustomization["spec"]>;
    if (!sourceRef) return undefined;
    return [ref(sourceRef.kind, sourceRef), ...(dependsOn ?? []).map((d) => ref("Kustomization", d))].sort();
  }
  if (key.kind === "HelmRelease") {
    const { chart, chartRef, dependsOn } = (spec ?? {}) as Partial<HelmRelease["spec"]>;
    const source = chart
      ? ref("HelmChart", { namespace: chart.spec.sourceRef.namespace, name: `${key.namespace}-${key.name}` })
      : chartRef && ref(chartRef.kind, chartRef);
    return source ? [source, ...(dependsOn ?? []).map((d) => ref("HelmRelease", d))].sort() : undefined;
  }
  if (key.kind === "ImagePolicy") {
    const { imageRepositoryRef } = (spec ?? {}) as Partial<ImagePolicy["spec"]>;
    return imageRepositoryRef && [ref("ImageRepository", imageRepositoryRef)];
  }
  if (key.kind === "HelmChart") {
    const { sourceRef } = (spec ?? {}) as Partial<HelmChart["spec"]>;
    return sourceRef && [ref(sourceRef.kind, { name: sourceRef.name })];
  }
  return undefined;
}
