// What sources keep between reconciles (a GitRepository's last commit's objects, its last archive's gzip members),
// held in memory too in a long-lived process, so that the next reconcile neither reads nor hashes the disk copy
// again. Entries are trusted as they stand: only values Sluice built or verified itself are put here. Keys name the
// owner's own folder (one per GitRepository), so one source's values never serve another. Bounded: least recently
// used entries go first; a miss just reads the disk copy.

import { ByteLru } from "./byte-lru.js";

/** The most bytes held across all sources. */
export const KEPT_MEMORY_BYTES = 256 * 1024 * 1024;

/** The one budget shared by every kind of kept value in this process, keyed by keptKey. */
export const keptInMemory = new ByteLru<unknown>(KEPT_MEMORY_BYTES);

/** The key of what `folder` keeps of `kind`. */
export const keptKey = (folder: string, kind: string) => `${folder}\0${kind}`;

/** Forgets whatever is held for `folder` (its disk copy is gone or no longer to be trusted). */
export const forgetKeptInMemory = (folder: string) => keptInMemory.deletePrefix(`${folder}\0`);
