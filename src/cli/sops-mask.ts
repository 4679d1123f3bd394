import type { KubeObject } from "../apply/object.js";

// `flux build` never prints what SOPS encrypted: a Secret's values are replaced by a mask, as its
// maskSopsData does (flux2 v2.9 internal/build), so a build can be shared or diffed without the ciphertext.

const MASK = "**SOPS**";
const MASKED = Buffer.from(MASK).toString("base64");
const DOCKER_CONFIG = "kubernetes.io/dockerconfigjson";

const encrypted = (text: string) => text.includes("sops") && text.includes("ENC[");

/**
 * A Secret with SOPS metadata loses it and every value becomes the mask (for a dockerconfigjson
 * Secret, `{"mask":"**SOPS**"}`); in other Secrets, each value that is itself SOPS-encrypted is
 * masked. Other objects are returned as they are.
 */
export function maskSops(object: KubeObject): KubeObject {
  if (object.kind !== "Secret") return object;
  const data = (object.data ?? {}) as Record<string, string>;
  const stringData = (object.stringData ?? {}) as Record<string, string>;
  const { sops, ...rest } = object as KubeObject & { sops?: { mac?: string } };
  const map = (values: Record<string, string>, value: (v: string) => string | undefined) =>
    Object.fromEntries(Object.entries(values).map(([k, v]) => [k, value(v) ?? v]));
  let masked: { data: Record<string, string>; stringData: Record<string, string> };
  if (sops?.mac?.startsWith("ENC[")) {
    const json = JSON.stringify({ mask: MASK });
    const docker = (object.type ?? "Opaque") === DOCKER_CONFIG;
    masked = {
      data: map(data, () => (docker ? Buffer.from(json).toString("base64") : MASKED)),
      stringData: map(stringData, () => (docker ? json : MASK)),
    };
  } else {
    masked = {
      data: map(data, (v) => (encrypted(Buffer.from(v, "base64").toString()) ? MASKED : undefined)),
      stringData: map(stringData, (v) => (encrypted(v) ? MASKED : undefined)),
    };
  }
  return {
    ...(sops?.mac?.startsWith("ENC[") ? rest : object),
    ...(object.data !== undefined && { data: masked.data }),
    ...(object.stringData !== undefined && { stringData: masked.stringData }),
  };
}
