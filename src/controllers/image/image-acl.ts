import type { AccessFrom } from "../../api/imagerepository.js";
import type { ReconcilerPorts } from "../reconciler-ports.js";

// fluxcd/pkg/runtime/acl's HasAccessToRef, as image-reflector-controller checks an ImagePolicy's
// reference to an ImageRepository in another namespace: the target's `accessFrom` must select the
// referring object's namespace by its labels (read from the cluster, where namespaces live).

/** The reference is refused; the message is Flux's. */
export class AccessDeniedError extends Error {
  override name = "AccessDeniedError";
}

/** Throws AccessDeniedError unless an object in `from` may use `target` (same namespace, or its ACL allows it). */
export async function checkAccessFrom(
  ports: ReconcilerPorts,
  from: string,
  target: { namespace: string; name: string },
  accessFrom: AccessFrom | undefined,
): Promise<void> {
  if (from === target.namespace) return;
  const where = `'${target.namespace}/${target.name}'`;
  if (!accessFrom) throw new AccessDeniedError(`${where} can't be accessed due to missing ACL labels on 'accessFrom'`);
  const cluster = await ports.cluster({ namespace: from });
  const namespace = await cluster.client.send<{ metadata?: { labels?: Record<string, string> } }>({
    method: "GET",
    path: `/api/v1/namespaces/${encodeURIComponent(from)}`,
  });
  const labels = namespace.metadata?.labels ?? {};
  // An empty matchLabels selects every namespace, as an empty label selector does.
  const allowed = accessFrom.namespaceSelectors.some((selector) =>
    Object.entries(selector.matchLabels ?? {}).every(([key, value]) => labels[key] === value),
  );
  if (!allowed)
    throw new AccessDeniedError(`${where} can't be accessed due to ACL labels mismatch on namespace '${from}'`);
}
