import type { KubeClient } from "../cluster/kube-client.js";
import { isNotFound } from "../cluster/errors.js";
import type { SecretRef, Secrets } from "./secrets.js";

interface DataObject {
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  binaryData?: Record<string, string>;
}

/** Secrets and ConfigMaps read from a cluster, as Flux's controllers read them (Secret data base64-decoded). */
export class KubeSecrets implements Secrets {
  constructor(private readonly client: KubeClient) {}

  async secret(ref: SecretRef): Promise<Record<string, string> | undefined> {
    const found = await this.read(`/api/v1/namespaces/${ref.namespace}/secrets/${ref.name}`);
    return (
      found &&
      Object.fromEntries(
        Object.entries(found.data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8")]),
      )
    );
  }

  async configMap(ref: SecretRef): Promise<Record<string, string> | undefined> {
    const found = await this.read(`/api/v1/namespaces/${ref.namespace}/configmaps/${ref.name}`);
    return found && { ...found.data };
  }

  private async read(path: string): Promise<DataObject | undefined> {
    try {
      return await this.client.send<DataObject>({ method: "GET", path });
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }
}
