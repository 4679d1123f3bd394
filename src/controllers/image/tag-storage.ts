import type { ImageRepository } from "../../api/imagerepository.js";
import type { ArtifactStore } from "../../artifacts/artifact-store.js";
import { parseTagList, type TagList } from "../../sources/image/tag-list.js";

// An ImageRepository's scanned tags in the artifact store (S3 on AWS), where Flux keeps them in its
// database: one object per scan revision, named by its SHA-256, so a reader gets exactly the tags a
// status names and checks them against it; the previous revision is removed once a newer one is stored.

/** Where the tags of `revision` (`sha256:<hex>`) are stored. */
function storedTagsPath(repo: Pick<ImageRepository, "metadata">, revision: string): string {
  const { namespace = "default", name } = repo.metadata;
  return `imagerepository/${namespace}/${name}/tags-${revision.replace(/^sha256:/, "")}.txt`;
}

/** Stores a scan's tags, then removes those of the revision the status named before, if another. */
export async function storeTags(
  artifacts: ArtifactStore,
  repo: ImageRepository,
  list: TagList,
  previous: string | undefined,
): Promise<void> {
  await artifacts.put(storedTagsPath(repo, list.revision), list.data);
  if (previous && previous !== list.revision) await artifacts.delete(storedTagsPath(repo, previous));
}

/** Whether the tags of `revision` are stored. */
export async function hasTags(
  artifacts: ArtifactStore,
  repo: Pick<ImageRepository, "metadata">,
  revision: string,
): Promise<boolean> {
  return (await artifacts.get(storedTagsPath(repo, revision)).catch(() => undefined)) !== undefined;
}

/** The tags of the scan `revision`, checked against it; undefined when they are not stored. */
export async function readTags(
  artifacts: ArtifactStore,
  repo: Pick<ImageRepository, "metadata">,
  revision: string,
): Promise<string[] | undefined> {
  const data = await artifacts.get(storedTagsPath(repo, revision), revision);
  return data && parseTagList(data);
}

/** Removes the tags of a deleted ImageRepository's last scan, as Flux's database deletes them with the object. */
export async function deleteTags(
  artifacts: ArtifactStore,
  repo: Pick<ImageRepository, "metadata"> & { status?: unknown },
): Promise<void> {
  const revision = (repo.status as ImageRepository["status"])?.lastScanResult?.revision;
  if (revision) await artifacts.delete(storedTagsPath(repo, revision));
}
