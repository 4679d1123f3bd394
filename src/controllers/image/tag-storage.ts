import type { ImageRepository } from "../../api/imagerepository.js";
import type { ArtifactStore } from "../../artifacts/artifact-store.js";
import { parseTagList, type TagList } from "../../sources/image/tag-list.js";

// An ImageRepository's scanned tags in the artifact store (S3 on AWS), where Flux keeps them in its
// database: one object per scan revision, named by its SHA-256, so a reader gets exactly the tags a
// status names and checks them against it; older revisions are removed once a newer one is stored.

const folderOf = (repo: Pick<ImageRepository, "metadata">) =>
  `imagerepository/${repo.metadata.namespace ?? "default"}/${repo.metadata.name}/`;

/** Where the tags of `revision` (`sha256:<hex>`) are stored. */
export function storedTagsPath(repo: Pick<ImageRepository, "metadata">, revision: string): string {
  return `${folderOf(repo)}tags-${revision.replace(/^sha256:/, "")}.txt`;
}

/** Stores a scan's tags, then removes the other revisions'. */
export async function storeTags(artifacts: ArtifactStore, repo: ImageRepository, list: TagList): Promise<void> {
  const path = storedTagsPath(repo, list.revision);
  await artifacts.put(path, list.data);
  for (const other of await artifacts.list(folderOf(repo))) if (other !== path) await artifacts.delete(other);
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
