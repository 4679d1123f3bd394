import { createHash } from "node:crypto";

// The tags of a scan as image-reflector-controller's storage keeps them (internal/storage): one per
// line, newest-looking first (descending order), and the scan's revision is the SHA-256 of those bytes.

/** How many tags the status shows (Flux's latestTagsCount). */
const LATEST_TAGS = 10;

/** A scan's tags in stored order, their bytes and revision, and the ten the status shows. */
export interface TagList {
  tags: string[];
  data: Buffer;
  revision: string;
  latestTags: string[];
}

/** Sorts the tags in place (descending, by code unit as Go compares bytes for these ASCII tags). */
export function tagListOf(tags: string[]): TagList {
  tags.sort().reverse(); // the engine's own ordering, without a comparator: several times faster on 5,000 tags
  const data = Buffer.from(tags.length === 0 ? "" : `${tags.join("\n")}\n`);
  const revision = `sha256:${createHash("sha256").update(data).digest("hex")}`;
  return { tags, data, revision, latestTags: tags.slice(0, LATEST_TAGS) };
}

/** The tags of stored bytes. */
export function parseTagList(data: Buffer): string[] {
  const text = data.toString("utf8");
  return text === "" ? [] : text.slice(0, -1).split("\n");
}
