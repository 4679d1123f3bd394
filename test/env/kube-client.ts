import { randomBytes } from "node:crypto";
import { CoreV1Api, KubeConfig, KubernetesObjectApi } from "@kubernetes/client-node";
import type { KubeInfo } from "./kube.js";

/** A client-node KubeConfig for the test bed's admin identity. */
export function adminKubeConfig(info: KubeInfo): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromString(info.kubeconfig);
  return kc;
}

/**
 * Creates a fresh namespace named `<prefix>-<random>` so tests never share objects; `remove()`
 * deletes it (the controller manager finalizes it in the background).
 */
export async function freshNamespace(
  info: KubeInfo,
  prefix: string,
): Promise<{ name: string; remove(): Promise<void> }> {
  const core = adminKubeConfig(info).makeApiClient(CoreV1Api);
  const name = `${prefix}-${randomBytes(3).toString("hex")}`;
  await core.createNamespace({ body: { metadata: { name } } });
  return { name, remove: async () => void (await core.deleteNamespace({ name })) };
}

/** A generic object client (get/list/server-side apply/delete of any kind). */
export function objectApi(info: KubeInfo): KubernetesObjectApi {
  return KubernetesObjectApi.makeApiClient(adminKubeConfig(info));
}
