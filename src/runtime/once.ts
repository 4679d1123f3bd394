/**
 * Memoizes an async result (a Lambda container's runtime, a cluster connection); a failure is forgotten, so the
 * next call tries again.
 */
export function once<T>(make: () => Promise<T>): () => Promise<T> {
  let made: Promise<T> | undefined;
  return () => {
    made ??= make();
    made.catch(() => (made = undefined));
    return made;
  };
}
