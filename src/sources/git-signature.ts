import fs from "node:fs";
import git from "isomorphic-git";

/** Signs a commit's bytes: the armored signature (OpenPGP or SSH) git keeps in the commit's `gpgsig` header. */
export type CommitSigner = (payload: Buffer) => Promise<string>;

/**
 * Writes the signed twin of `commit` (an object of the repository at `dir`) and returns its id: what is signed is
 * the commit object's exact bytes, as git verifies them once the header is taken out again. The unsigned commit
 * stays behind unreferenced.
 */
export async function signCommit(dir: string, commit: string, sign: CommitSigner): Promise<string> {
  const { object } = await git.readObject({ fs, dir, oid: commit, format: "content" });
  const payload = Buffer.from(object as Uint8Array);
  const signed = withSignatureHeader(payload, await sign(payload));
  return git.writeObject({ fs, dir, type: "commit", format: "content", object: signed });
}

/**
 * The commit with its signature as git stores it (commit.c's add_header_signature): a `gpgsig` header after the
 * others, each further line of the signature continued after one space.
 */
export function withSignatureHeader(commit: Buffer, signature: string): Buffer {
  const end = commit.indexOf("\n\n");
  if (end < 0) throw new Error("not a commit object: no blank line after its headers");
  const lines = signature.replace(/\r\n/g, "\n").replace(/\n+$/, "").split("\n");
  const header = Buffer.from(`gpgsig ${lines.join("\n ")}\n`);
  return Buffer.concat([commit.subarray(0, end + 1), header, commit.subarray(end + 1)]);
}
