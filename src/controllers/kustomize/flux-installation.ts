import type { KubeObject } from "../../apply/object.js";

// A fleet bootstrapped by Flux carries flux-system/gotk-components.yaml: Flux's own controllers,
// CRDs, RBAC, network policies and namespace. Sluice reconciles the Flux objects itself, so those
// are left out of the apply: otherwise Flux's controllers would be installed next to Sluice (and
// Sluice would take ownership of, and could prune, the namespace holding the Git credentials).

/** `flux install` and `flux bootstrap` label every object of the installation with both. */
const PART_OF = "app.kubernetes.io/part-of";
const INSTANCE = "app.kubernetes.io/instance";

/** The objects of a render without Flux's own installation, and those left out. */
export function withoutFluxInstallation(objects: KubeObject[]): { kept: KubeObject[]; skipped: KubeObject[] } {
  const kept: KubeObject[] = [];
  const skipped: KubeObject[] = [];
  for (const object of objects) {
    const labels = object.metadata.labels ?? {};
    (labels[PART_OF] === "flux" && labels[INSTANCE] ? skipped : kept).push(object);
  }
  return { kept, skipped };
}

/** What the event says about the objects left out (the version comes from Flux's own label). */
export function installationNotice(skipped: KubeObject[]): string {
  const version = skipped.find((o) => o.metadata.labels?.["app.kubernetes.io/version"])?.metadata.labels?.[
    "app.kubernetes.io/version"
  ];
  const instance = skipped[0]?.metadata.labels?.[INSTANCE];
  return (
    `skipped ${skipped.length} objects of Flux's own installation (${INSTANCE}=${instance}` +
    `${version ? `, Flux ${version}` : ""}): Sluice reconciles the Flux objects itself, Flux's controllers are not installed`
  );
}
