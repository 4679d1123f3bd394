/** Where a Flux object lives in the Store: `Kind/namespace/name`, the queue's key too. */
export interface ObjectKey {
  kind: string;
  namespace: string;
  name: string;
}

export function keyOf(object: { kind: string; metadata: { name: string; namespace?: string } }): ObjectKey {
  return { kind: object.kind, namespace: object.metadata.namespace ?? "default", name: object.metadata.name };
}

export function formatKey(key: ObjectKey): string {
  return `${key.kind}/${key.namespace}/${key.name}`;
}

export function parseKey(text: string): ObjectKey {
  const [kind, namespace, name, ...rest] = text.split("/");
  if (!kind || !namespace || !name || rest.length > 0)
    throw new Error(`object key ${JSON.stringify(text)}: expected Kind/namespace/name`);
  return { kind, namespace, name };
}
