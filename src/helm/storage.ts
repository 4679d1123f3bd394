import type { KubeClient } from "../cluster/kube-client.js";
import { isNotFound } from "../cluster/errors.js";
import {
  decodeRecord,
  recordSecret,
  recordSecretName,
  RELEASE_SECRET_TYPE,
  type ReleaseRecord,
} from "./release-record.js";

// Helm's Secrets storage driver, for one storage namespace: the versions of a release are read
// with one LIST (label selector owner=helm,name=<release>), written one Secret per version.

interface SecretObject {
  metadata: { name: string; labels?: Record<string, string>; resourceVersion?: string };
  type?: string;
  data?: { release?: string };
}

export class ReleaseStorage {
  constructor(
    private readonly client: KubeClient,
    readonly namespace: string,
  ) {}

  /** Every stored version of a release, oldest first. */
  async history(name: string): Promise<ReleaseRecord[]> {
    const list = await this.client.send<{ items?: SecretObject[] }>({
      method: "GET",
      path: this.path(),
      query: { labelSelector: `owner=helm,name=${name}` },
    });
    return (list.items ?? [])
      .filter((s) => s.type === RELEASE_SECRET_TYPE && s.data?.release)
      .map((s) => decodeRecord(s.metadata.name, s.data!.release!))
      .filter((r) => r.name === name)
      .sort((a, b) => a.version - b.version);
  }

  /** The newest version, or undefined when the release has none. */
  async latest(name: string): Promise<ReleaseRecord | undefined> {
    return (await this.history(name)).at(-1);
  }

  async create(record: ReleaseRecord, now: Date): Promise<void> {
    await this.client.send({ method: "POST", path: this.path(), body: recordSecret(record, now) });
  }

  /** Rewrites a stored version (its status changed); createdAt kept, modifiedAt set, as Helm's driver does. */
  async update(record: ReleaseRecord, now: Date): Promise<void> {
    const name = recordSecretName(record.name, record.version);
    const current = await this.client.send<SecretObject>({ method: "GET", path: this.path(name) });
    const next = recordSecret(record, now, current.metadata.labels);
    await this.client.send({
      method: "PUT",
      path: this.path(name),
      body: { ...next, metadata: { ...next.metadata, resourceVersion: current.metadata.resourceVersion } },
    });
  }

  async delete(name: string, version: number): Promise<void> {
    try {
      await this.client.send({ method: "DELETE", path: this.path(recordSecretName(name, version)) });
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }

  private path(name?: string): string {
    const base = `/api/v1/namespaces/${encodeURIComponent(this.namespace)}/secrets`;
    return name ? `${base}/${encodeURIComponent(name)}` : base;
  }
}
