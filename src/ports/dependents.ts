import type { ArtifactGenerator } from "../api/artifactgenerator.js";
import type { HelmChart } from "../api/helmchart.js";
import type { HelmRelease } from "../api/helmrelease.js";
import type { ImagePolicy } from "../api/imagepolicy.js";
import type { Kustomization } from "../api/kustomization.js";
import { formatKey, type ObjectKey } from "../api/object-key.js";

/**
 * Who to wake when an object changes: the Kustomizations using a source or depending on a
 * Kustomization, the HelmCharts built from a source, the HelmReleases using a HelmChart or depending on a
 * HelmRelease, the Kustomizations and HelmReleases reading a ConfigMap or Secret — so a change wakes its dependents
 * without listing the whole Store. Learned from each object as it is reconciled.
 */
export interface DependentsIndex {
  /** Records what an object points at (Store keys, from {@link targetsOf}), replacing what it had before. */
  record(key: ObjectKey, targets: string[]): Promise<void>;
  forget(key: ObjectKey): Promise<void>;
  /** Keys of the objects that point at `key`, sorted. */
  of(key: ObjectKey): Promise<string[]>;
}

/**
 * What an object points at whose change should reconcile it, as Store-style keys: a Kustomization's
 * source and each dependsOn, a HelmChart's source, a HelmRelease's chart source and dependsOn; and the
 * ConfigMaps and Secrets (`ConfigMap/<ns>/<name>`, in the object's namespace, not Store objects) that Flux's
 * config watchers index: a Kustomization's `postBuild.substituteFrom`, `decryption.secretRef` and
 * `kubeConfig.secretRef`, a HelmRelease's `valuesFrom` and `kubeConfig.secretRef`. Undefined for kinds
 * nothing wakes (or an object whose spec has no reference yet).
 */
export function targetsOf(key: ObjectKey, spec: unknown): string[] | undefined {
  const ref = (kind: string, target: { namespace?: string; name: string }) =>
    formatKey({ kind, namespace: target.namespace ?? key.namespace, name: target.name });
  if (key.kind === "Kustomization") {
    const { sourceRef, dependsOn, postBuild, decryption, kubeConfig } = (spec ?? {}) as Partial<Kustomization["spec"]>;
    if (!sourceRef) return undefined;
    const configs = configTargets(key, [...listOf(postBuild?.substituteFrom), secret(decryption), secret(kubeConfig)]);
    return [
      ref(sourceRef.kind, sourceRef),
      ...(dependsOn ?? []).map((d) => ref("Kustomization", d)),
      ...configs,
    ].sort();
  }
  if (key.kind === "HelmRelease") {
    const { chart, chartRef, dependsOn, valuesFrom, kubeConfig } = (spec ?? {}) as Partial<HelmRelease["spec"]>;
    const source = chart
      ? ref("HelmChart", { namespace: chart.spec.sourceRef.namespace, name: `${key.namespace}-${key.name}` })
      : chartRef && ref(chartRef.kind, chartRef);
    const configs = configTargets(key, [...listOf(valuesFrom), secret(kubeConfig)]);
    return source ? [source, ...(dependsOn ?? []).map((d) => ref("HelmRelease", d)), ...configs].sort() : undefined;
  }
  if (key.kind === "ImagePolicy") {
    const { imageRepositoryRef } = (spec ?? {}) as Partial<ImagePolicy["spec"]>;
    return imageRepositoryRef && [ref("ImageRepository", imageRepositoryRef)];
  }
  if (key.kind === "ArtifactGenerator") {
    const { sources } = (spec ?? {}) as Partial<ArtifactGenerator["spec"]>;
    if (!Array.isArray(sources)) return undefined;
    // As stored, possibly never admitted: only what can name a source shapes a key.
    const named = sources.filter(
      (s) =>
        typeof s?.kind === "string" &&
        /^[A-Za-z]+$/.test(s.kind) &&
        typeof s.name === "string" &&
        OBJECT_NAME.test(s.name) &&
        (s.namespace === undefined || (typeof s.namespace === "string" && OBJECT_NAME.test(s.namespace))),
    );
    return [...new Set(named.map((s) => ref(s.kind, s)))].sort();
  }
  if (key.kind === "HelmChart") {
    const { sourceRef } = (spec ?? {}) as Partial<HelmChart["spec"]>;
    return sourceRef && [ref(sourceRef.kind, { name: sourceRef.name })];
  }
  return undefined;
}

/** A Kubernetes object name (DNS subdomain): anything else names no ConfigMap or Secret, and must not shape a key. */
const OBJECT_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/**
 * The keys of the ConfigMaps and Secrets among `refs`, once each, in the object's namespace. The spec is as stored,
 * possibly never admitted, so each reference is checked rather than trusted.
 */
function configTargets(key: ObjectKey, refs: unknown[]): string[] {
  const keys = refs.flatMap((r) => {
    const { kind, name } = (r ?? {}) as { kind?: unknown; name?: unknown };
    const valid = (kind === "ConfigMap" || kind === "Secret") && typeof name === "string" && OBJECT_NAME.test(name);
    return valid ? [formatKey({ kind, namespace: key.namespace, name })] : [];
  });
  return [...new Set(keys)];
}

const listOf = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);

/** A `secretRef` as a reference to a Secret. */
const secret = (holder: { secretRef?: { name?: unknown } } | undefined) =>
  holder?.secretRef && { kind: "Secret", name: holder.secretRef.name };
