import type { KubeObject } from "./object.js";

/** kubectl's client-side apply copies the whole object, Secret values included, into this annotation. */
const LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration";
const MASK = "*****";
const CHANGED_MASK = "***** (changed)";

/**
 * A live/desired pair of the same object made safe to print. For a Secret, every value of `data`
 * and `stringData` becomes a mask (a changed value gets a different mask, so a diff still shows
 * which keys change, never what to) and kubectl's last-applied annotation, which holds the values
 * again, is masked too. Other kinds are returned as they are.
 */
export function redactPair(
  live: KubeObject | undefined,
  desired: KubeObject | undefined,
): { live?: KubeObject; desired?: KubeObject } {
  if ((live ?? desired)?.kind !== "Secret") return { live, desired };
  const before = values(live);
  const after = values(desired);
  return {
    live: live && maskSecret(live, () => MASK),
    desired:
      desired &&
      maskSecret(desired, (key) => (before.has(key) && before.get(key) !== after.get(key) ? CHANGED_MASK : MASK)),
  };
}

/** The Secret's values by key, `stringData` as base64 so both spellings compare equal. */
function values(secret: KubeObject | undefined): Map<string, string> {
  const map = new Map<string, string>();
  for (const [key, value] of Object.entries((secret?.data as Record<string, string> | undefined) ?? {}))
    map.set(key, value);
  for (const [key, value] of Object.entries((secret?.stringData as Record<string, string> | undefined) ?? {}))
    map.set(key, Buffer.from(value).toString("base64"));
  return map;
}

function maskSecret(secret: KubeObject, mask: (key: string) => string): KubeObject {
  const copy: KubeObject = { ...secret, metadata: { ...secret.metadata } };
  for (const field of ["data", "stringData"] as const) {
    const data = secret[field] as Record<string, string> | undefined;
    if (data) copy[field] = Object.fromEntries(Object.keys(data).map((key) => [key, mask(key)]));
  }
  const annotations = secret.metadata.annotations;
  if (annotations?.[LAST_APPLIED] !== undefined) copy.metadata.annotations = { ...annotations, [LAST_APPLIED]: MASK };
  return copy;
}
