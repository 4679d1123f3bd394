import { createHash } from "node:crypto";
import {
  EXTERNAL_ARTIFACT_API_VERSION,
  GENERATOR_LABEL,
  ORIGIN_REVISION_KEY,
  type ArtifactGenerator,
  type ExternalArtifactReference,
  type OutputArtifact,
} from "../../api/artifactgenerator.js";
import type { Artifact } from "../../api/meta.js";
import { formatKey, keyOf, type ObjectKey } from "../../api/object-key.js";
import { CONDITION, REASON } from "../../api/reasons.js";
import type { KubeObject } from "../../apply/object.js";
import { archiveTree } from "../../artifacts/archive.js";
import { readArchive, UnsafeArchiveError } from "../../artifacts/extract.js";
import { findCondition } from "../../pipeline/conditions.js";
import type { Outcome } from "../../pipeline/outcome.js";
import { ReconcileError } from "../../pipeline/reconcile-error.js";
import { markFailed, markReady, type Stamp } from "../../pipeline/status.js";
import { buildArtifactTree, CopyError, IndexedTree } from "../../sources/artifact-generator/build.js";
import { applyToStore, writeStatus } from "../../store/objects.js";
import { ConflictError, type Stored } from "../../store/store.js";
import type { ReconcilerPorts } from "../reconciler-ports.js";
import { artifactFolder, removeAll, removeSuperseded } from "./artifact-retention.js";

// source-watcher v2.2's ArtifactGenerator reconcile (internal/controller/artifactgenerator_controller.go): observe
// the sources' artifacts; when they, the spec or the generated objects drifted, build each output artifact from
// them, store it named after its content, and write the ExternalArtifact that serves it. An artifact's revision is
// `latest@<digest of its archive>`, so it changes only when its files do, and only the dependents of an
// ExternalArtifact whose artifact changed are woken.

type Status = NonNullable<ArtifactGenerator["status"]>;

/** source-watcher's GetRequeueAfter: one hour, whatever the spec. */
const REQUEUE_MS = 60 * 60 * 1000;
/** The annotation that turns reconciliation off, and its value. */
const RECONCILE_ANNOTATION = "source.extensions.fluxcd.io/reconcile";
/** Where the generated artifacts are stored, as source-controller's storage lays out a kind's artifacts. */
const storagePrefix = (namespace: string, name: string) => artifactFolder("ExternalArtifact", namespace, name);
/** source-watcher's field manager, as the managed-by label it puts on what it generates. */
const CONTROLLER = "source-watcher";

/** An upstream source's artifact as the generator observes it (source-watcher's ObservedSource). */
interface ObservedSource {
  key: ObjectKey;
  artifact: Artifact;
  originRevision?: string;
}

export async function reconcileArtifactGenerator(
  ports: ReconcilerPorts,
  generator: ArtifactGenerator,
): Promise<Outcome<Status>> {
  const { metadata, spec } = generator;
  const at: Stamp = { generation: metadata.generation ?? 1, now: new Date(ports.clock.now()) };
  const namespace = metadata.namespace ?? "default";
  const status: Status = { ...generator.status };
  if (metadata.annotations?.[RECONCILE_ANNOTATION]?.toLowerCase() === "disabled") return { status };
  try {
    validate(ports, generator, namespace);
    const sources = await observeSources(ports, generator, namespace);
    const sourcesDigest = hashObservedSources(sources);
    if (!(await drifted(ports, generator, namespace, sourcesDigest, at.generation)))
      return { status, requeueAfterMs: REQUEUE_MS };
    const trees = await fetchSources(ports, sources);
    const inventory: ExternalArtifactReference[] = [];
    const changed: string[] = [];
    for (const output of spec.artifacts) {
      // Before anything is stored under its name: another generator's artifact is left alone.
      refuseForeign(generator, await ports.store.get({ kind: "ExternalArtifact", namespace, name: output.name }));
      const artifact = await buildArtifact(ports, output, namespace, trees, sources, at.now);
      const written = await writeExternalArtifact(ports, generator, namespace, output.name, artifact);
      const filename = artifact.path.slice(artifact.path.lastIndexOf("/") + 1);
      inventory.push({ name: output.name, namespace, digest: artifact.digest, filename });
      if (written) changed.push(`${namespace}/${output.name} (${artifact.digest})`);
    }
    await removeOrphans(ports, status.inventory ?? [], inventory);
    const message = `reconciliation succeeded, generated ${inventory.length} artifact(s)`;
    const next = { ...status, inventory, observedSourcesDigest: sourcesDigest };
    return {
      status: markReady(next, at, REASON.succeeded, message),
      requeueAfterMs: REQUEUE_MS,
      event:
        changed.length > 0
          ? {
              severity: "info",
              reason: CONDITION.ready,
              message: `external artifacts reconciled: ${changed.join("\n")}`,
            }
          : undefined,
    };
  } catch (error) {
    if (!(error instanceof ReconcileError)) throw error;
    return {
      status: markFailed(status, at, error.reason, error.message, { stalled: error.stalled }),
      requeueAfterMs: error.stalled ? undefined : (error.retryAfterMs ?? ports.settings.dependencyRequeueMs),
      event: { severity: "error", reason: error.reason, message: error.message },
    };
  }
}

/** source-watcher's validateSpec: unique aliases and artifact names, revisions naming an alias; access to sources. */
function validate(ports: ReconcilerPorts, generator: ArtifactGenerator, namespace: string): void {
  const invalid = (message: string) => new ReconcileError(REASON.validationFailed, message, { stalled: true });
  const aliases = new Set<string>();
  for (const source of generator.spec.sources) {
    if (aliases.has(source.alias)) throw invalid(`duplicate source alias '${source.alias}' found`);
    aliases.add(source.alias);
  }
  // source-watcher's own wording of --no-cross-namespace-refs.
  const foreign = generator.spec.sources.find((s) => s.namespace && s.namespace !== namespace);
  if (ports.settings.noCrossNamespaceRefs && foreign)
    throw new ReconcileError(
      REASON.accessDenied,
      `cross-namespace reference to source ${foreign.kind}/${foreign.namespace}/${foreign.name} is not allowed`,
      { stalled: true },
    );
  const names = new Set<string>();
  for (const output of generator.spec.artifacts) {
    if (names.has(output.name)) throw invalid(`duplicate artifact name '${output.name}' found`);
    names.add(output.name);
    // Only `revision` is checked: an originRevision naming no alias sets nothing, as in source-watcher.
    if (output.revision && !aliases.has(output.revision.slice(1)))
      throw invalid(`artifact ${output.name} revision source alias '${output.revision.slice(1)}' not found`);
  }
}

const SOURCE_FETCH_FAILED = "SourceFetchFailed";

async function observeSources(
  ports: ReconcilerPorts,
  generator: ArtifactGenerator,
  namespace: string,
): Promise<Map<string, ObservedSource>> {
  const observed = new Map<string, ObservedSource>();
  for (const source of generator.spec.sources) {
    const key = { kind: source.kind, namespace: source.namespace ?? namespace, name: source.name };
    const stored = await ports.store.get(key);
    const artifact = (stored?.object.status as { artifact?: Artifact } | undefined)?.artifact;
    if (!artifact) {
      const why = stored ? "is not ready" : "not found";
      throw new ReconcileError(SOURCE_FETCH_FAILED, `get sources failed: source '${formatKey(key)}' ${why}`);
    }
    const originRevision = artifact.metadata?.[ORIGIN_REVISION_KEY];
    observed.set(source.alias, { key, artifact, ...(originRevision && { originRevision }) });
  }
  return observed;
}

/** source-watcher's HashObservedSources: sorted `alias=[digest=…,revision=…,url=…]` parts, SHA-256. */
function hashObservedSources(sources: Map<string, ObservedSource>): string {
  const parts = [...sources].map(
    ([alias, { artifact }]) => `${alias}=[digest=${artifact.digest},revision=${artifact.revision},url=${artifact.url}]`,
  );
  return `sha256:${createHash("sha256").update(parts.sort().join("|")).digest("hex")}`;
}

/**
 * source-watcher's detectDrift: the last attempt failed, the spec or a source changed, an artifact went missing from
 * storage, or a generated ExternalArtifact is gone or serves another digest.
 */
async function drifted(
  ports: ReconcilerPorts,
  generator: ArtifactGenerator,
  namespace: string,
  sourcesDigest: string,
  generation: number,
): Promise<boolean> {
  const { status, spec } = generator;
  const ready = findCondition(status?.conditions, CONDITION.ready);
  if (!ready || ready.status === "False" || ready.observedGeneration !== generation) return true;
  if (status?.observedSourcesDigest !== sourcesDigest) return true;
  const inventory = status.inventory ?? [];
  if (inventory.length !== spec.artifacts.length) return true;
  for (const ref of inventory) {
    const path = `${storagePrefix(ref.namespace, ref.name)}${ref.filename}`;
    if (!(await ports.artifacts.get(path, ref.digest).catch(() => undefined))) return true;
    const stored = await ports.store.get({ kind: "ExternalArtifact", namespace, name: ref.name });
    const artifact = (stored?.object.status as { artifact?: Artifact } | undefined)?.artifact;
    if (artifact?.digest !== ref.digest || !ownedBy(stored!.object, generator)) return true;
  }
  return false;
}

/** Each source's artifact read into memory, verified against its digest and within the extraction limits. */
async function fetchSources(
  ports: ReconcilerPorts,
  sources: Map<string, ObservedSource>,
): Promise<Map<string, IndexedTree>> {
  const trees = new Map<string, IndexedTree>();
  for (const [alias, { key, artifact }] of sources) {
    const failed = (why: string) =>
      new ReconcileError(SOURCE_FETCH_FAILED, `fetch sources failed: artifact of '${formatKey(key)}' ${why}`);
    const data = await ports.artifacts.get(artifact.path, artifact.digest).catch((error: Error) => {
      throw failed(`could not be read: ${error.message}`);
    });
    if (!data) throw failed("is not in storage");
    try {
      trees.set(alias, await IndexedTree.of((await readArchive(data)).tree));
    } catch (error) {
      if (error instanceof UnsafeArchiveError) throw failed(`is refused: ${error.message}`);
      throw error;
    }
  }
  return trees;
}

/** One output artifact: built, archived reproducibly and stored under its digest; revisions as source-watcher sets them. */
async function buildArtifact(
  ports: ReconcilerPorts,
  output: OutputArtifact,
  namespace: string,
  trees: Map<string, IndexedTree>,
  sources: Map<string, ObservedSource>,
  now: Date,
): Promise<Artifact> {
  let tree;
  try {
    tree = await buildArtifactTree(output.copy, trees);
  } catch (error) {
    if (!(error instanceof CopyError)) throw error;
    throw new ReconcileError(REASON.buildFailed, `${output.name} build failed: ${error.message}`);
  }
  const archive = await archiveTree(tree, { sourceignore: false });
  const path = `${storagePrefix(namespace, output.name)}${archive.digest.slice("sha256:".length)}.tar.gz`;
  const stored = await ports.artifacts.put(path, archive.data).catch((error: Error) => {
    throw new ReconcileError(REASON.reconciliationFailed, `${output.name} reconcile failed: ${error.message}`);
  });
  const revisionSource = output.revision && sources.get(output.revision.slice(1));
  const originSource = output.originRevision && sources.get(output.originRevision.slice(1));
  const origin = originSource && (originSource.originRevision ?? originSource.artifact.revision);
  return {
    path: stored.path,
    url: stored.url,
    revision: revisionSource ? revisionSource.artifact.revision : `latest@${stored.digest}`,
    digest: stored.digest,
    lastUpdateTime: now.toISOString(),
    size: stored.size,
    ...(origin && { metadata: { [ORIGIN_REVISION_KEY]: origin } }),
  };
}

/** Refuses an ExternalArtifact that exists and is not this generator's, naming its owner. */
function refuseForeign(generator: ArtifactGenerator, existing: Stored | undefined): void {
  if (!existing || ownedBy(existing.object, generator)) return;
  const { namespace, name } = keyOf(existing.object);
  const ref = (existing.object.spec as { sourceRef?: { kind?: string; name?: string; namespace?: string } })?.sourceRef;
  const owner = ref ? `${ref.kind}/${ref.namespace ?? namespace}/${ref.name}` : "no ArtifactGenerator";
  throw new ReconcileError(
    REASON.reconciliationFailed,
    `${name} reconcile failed: ExternalArtifact '${namespace}/${name}' exists and belongs to ${owner}; it is left as it is`,
  );
}

/** Whether an ExternalArtifact is this generator's: its sourceRef names it. */
function ownedBy(object: KubeObject, generator: ArtifactGenerator): boolean {
  const ref = (object.spec as { sourceRef?: { kind?: string; name?: string; namespace?: string } } | undefined)
    ?.sourceRef;
  const namespace = generator.metadata.namespace ?? "default";
  return ref?.kind === "ArtifactGenerator" && ref.name === generator.metadata.name && ref.namespace === namespace;
}

/**
 * Registers the ExternalArtifact and sets its status; wakes its dependents when its artifact changed. One that
 * exists and is not this generator's (another generator's, or applied from a fleet repo) is left as it is: unlike
 * source-watcher, which force-applies over it, Sluice refuses, naming its owner. True when the artifact's files
 * (digest) or revision changed.
 */
async function writeExternalArtifact(
  ports: ReconcilerPorts,
  generator: ArtifactGenerator,
  namespace: string,
  name: string,
  artifact: Artifact,
): Promise<boolean> {
  const key = { kind: "ExternalArtifact", namespace, name };
  const { commonMetadata } = generator.spec;
  const uid = generator.metadata.uid;
  const desired = {
    apiVersion: EXTERNAL_ARTIFACT_API_VERSION,
    kind: "ExternalArtifact",
    metadata: {
      name,
      namespace,
      labels: {
        ...commonMetadata?.labels,
        "app.kubernetes.io/managed-by": CONTROLLER,
        ...(typeof uid === "string" && { [GENERATOR_LABEL]: uid }),
      },
      ...(commonMetadata?.annotations && { annotations: commonMetadata.annotations }),
    },
    spec: {
      sourceRef: {
        apiVersion: generator.apiVersion,
        kind: "ArtifactGenerator",
        name: generator.metadata.name,
        namespace,
      },
    },
  };
  let existing = await ports.store.get(key);
  // Created only if absent, so of two generators naming the same artifact at once only one gets it.
  if (!existing)
    await ports.store.create({ ...desired, metadata: { ...desired.metadata, generation: 1 } }).catch(async (error) => {
      if (!(error instanceof ConflictError)) throw error;
      existing = await ports.store.get(key);
    });
  refuseForeign(generator, existing);
  if (existing) await applyToStore(ports.store, desired);
  const current = (existing?.object.status as { artifact?: Artifact } | undefined)?.artifact;
  const sameFiles = current?.digest === artifact.digest && current.revision === artifact.revision;
  if (sameFiles && current.metadata?.[ORIGIN_REVISION_KEY] === artifact.metadata?.[ORIGIN_REVISION_KEY]) return false;
  const stored = await ports.store.get(key);
  const generation = stored?.object.metadata.generation ?? 1;
  await writeStatus(ports.store, key, {
    artifact,
    conditions: [
      {
        type: CONDITION.ready,
        status: "True",
        observedGeneration: generation,
        lastTransitionTime: artifact.lastUpdateTime,
        reason: REASON.succeeded,
        message: "Artifact is ready",
      },
    ],
    observedGeneration: generation,
  });
  await removeSuperseded(ports.artifacts, ports.log, storagePrefix(namespace, name), [artifact.path, current?.path]);
  // As Flux's consumers watch an ExternalArtifact (SourceRevisionChangePredicate): a new origin revision alone is
  // recorded, and wakes no one.
  if (current?.revision !== artifact.revision)
    for (const dependent of await ports.dependents.of(key))
      await ports.queue.enqueue({ key: dependent, reason: "source", revision: artifact.revision });
  return !sameFiles;
}

/** The ExternalArtifacts (and their stored artifacts) of names no longer generated. */
async function removeOrphans(
  ports: ReconcilerPorts,
  previous: ExternalArtifactReference[],
  current: ExternalArtifactReference[],
): Promise<void> {
  const kept = new Set(current.map((ref) => `${ref.namespace}/${ref.name}`));
  await deleteExternalArtifacts(
    ports,
    previous.filter((ref) => !kept.has(`${ref.namespace}/${ref.name}`)),
  );
}

/** Deletes ExternalArtifacts from the Store with every artifact stored for them (source-watcher's finalizer). */
export async function deleteExternalArtifacts(
  ports: ReconcilerPorts,
  refs: ExternalArtifactReference[],
): Promise<void> {
  for (const ref of refs) {
    await removeAll(ports.artifacts, storagePrefix(ref.namespace, ref.name));
    await ports.store.delete({ kind: "ExternalArtifact", namespace: ref.namespace, name: ref.name });
    ports.log.info({ object: `ExternalArtifact/${ref.namespace}/${ref.name}` }, "deleted with its artifacts");
  }
}
