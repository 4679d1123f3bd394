import { expect } from "vitest";
import { GitError } from "../../src/sources/git.js";

/** The GitError an attempt must fail with (the test fails if it succeeds or fails otherwise). */
export async function gitFailure(attempt: Promise<unknown>): Promise<GitError> {
  const error = await attempt.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(GitError);
  return error as GitError;
}
