import { PostError } from "../post.js";

// A forge's repository address read as notification-controller v1.9.3's parseGitAddress reads it
// (internal/notifier/util.go, with chainguard-dev/git-urls): the forge's base URL and the repository id.

/** `https://github.com/org/repo.git` → `https://github.com` and `org/repo`; an ssh:// address names the same repository over https. */
export function gitAddress(url: URL): { host: string; id: string } {
  const scheme = url.protocol === "ssh:" ? "https:" : url.protocol;
  const id = url.pathname.replace(/^\/+/, "").replace(/\.git$/, "");
  return { host: `${scheme}//${url.host}`, id: decodeURIComponent(id) };
}

/** The owner and repository of a GitHub or Gitea address; Flux's "invalid repository id" otherwise. */
export function ownerAndRepo(url: URL): { host: string; owner: string; repo: string } {
  const { host, id } = gitAddress(url);
  const [owner, repo, ...rest] = id.split("/");
  if (!owner || !repo || rest.length > 0) throw new PostError(`invalid repository id '${id}'`);
  return { host, owner, repo };
}
