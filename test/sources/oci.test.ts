import { describe, expect, it } from "vitest";
import { parseChallenge } from "../../src/sources/oci/challenge.js";
import { credentialsFromSecret, OciCredentialsError } from "../../src/sources/oci/credentials.js";
import { OciUrlError, parseOciUrl } from "../../src/sources/oci/reference.js";

// The pure parts of the OCI client: `oci://` URLs as go-containerregistry names them, registry
// credentials from Secrets as the kubelet's keyring matches them, and WWW-Authenticate challenges.

describe("oci:// URLs", () => {
  it.each([
    ["oci://ghcr.io/org/app", { registry: "ghcr.io", repository: "org/app", httpFallback: false }],
    [
      "oci://registry.example:5000/a/b/c/",
      { registry: "registry.example:5000", repository: "a/b/c", httpFallback: false },
    ],
    ["oci://localhost:5000/app", { registry: "localhost:5000", repository: "app", httpFallback: true }],
    ["oci://10.1.2.3/app", { registry: "10.1.2.3", repository: "app", httpFallback: true }],
    ["oci://172.32.0.1/app", { registry: "172.32.0.1", repository: "app", httpFallback: false }],
    ["oci://docker.io/nginx", { registry: "index.docker.io", repository: "library/nginx", httpFallback: false }],
    [
      "oci://stefanprodan/podinfo",
      { registry: "index.docker.io", repository: "stefanprodan/podinfo", httpFallback: false },
    ],
  ])("%s names %o", (url, expected) => {
    expect(parseOciUrl(url)).toMatchObject({ ...expected, baseUrl: `https://${expected.registry}` });
  });

  it("falls back to plain HTTP for any registry only with insecure", () => {
    expect(parseOciUrl("oci://registry.example/app", true).httpFallback).toBe(true);
  });

  it.each([
    ["oci://ghcr.io/org/app:v1", "URL must not contain a tag; remove ':v1'"],
    ["oci://ghcr.io/org/app@v1", "repository name 'org/app@v1' must be lowercase path components ([a-z0-9._-])"],
    ["https://ghcr.io/org/app", "URL must be in format 'oci://<domain>/<org>/<repo>'"],
    ["oci://ghcr.io/Org/App", "repository name 'Org/App' must be lowercase path components ([a-z0-9._-])"],
    ["oci://ghcr.io/org/../app", "repository name 'org/../app' must be lowercase path components ([a-z0-9._-])"],
    ["oci://ghcr.io", "repository name '' must be lowercase path components ([a-z0-9._-])"],
    ["oci://bad_host.example:99999x/app", "registry 'bad_host.example:99999x' is not a valid host[:port]"],
  ])("refuses %s: %s", (url, message) => {
    expect(() => parseOciUrl(url)).toThrow(new OciUrlError(message));
  });
});

describe("registry credentials from a Secret", () => {
  const ref = parseOciUrl("oci://registry.example:5000/team-a/apps/web");
  const basic = (username: string, password: string) => Buffer.from(`${username}:${password}`).toString("base64");
  const config = (auths: Record<string, unknown>) => ({ ".dockerconfigjson": JSON.stringify({ auths }) });

  it("takes the entry of the registry, written with a scheme or /v1/, the longest matching path first", () => {
    const data = config({
      "https://registry.example:5000/v1/": { auth: basic("any", "one") },
      "registry.example:5000/team-a": { username: "team", password: "two" },
      "registry.example:5000/team-a/apps/web-other": { auth: basic("other", "three") },
      "registry.elsewhere.example": { auth: basic("elsewhere", "four") },
    });
    expect(credentialsFromSecret(data, ref, "apps/regcred")).toEqual({ username: "team", password: "two" });
    const other = parseOciUrl("oci://registry.example:5000/team-b/app");
    expect(credentialsFromSecret(data, other, "apps/regcred")).toEqual({ username: "any", password: "one" });
  });

  it("finds nothing for another registry, and reads Docker Hub's names as one registry", () => {
    const data = config({ "https://index.docker.io/v1/": { auth: basic("hub", "pass:with:colons") } });
    expect(credentialsFromSecret(data, ref, "apps/regcred")).toBeUndefined();
    const hub = parseOciUrl("oci://docker.io/org/app");
    expect(credentialsFromSecret(data, hub, "apps/regcred")).toEqual({ username: "hub", password: "pass:with:colons" });
  });

  it("takes username/password only for a HelmRepository, both or neither", () => {
    expect(credentialsFromSecret({ username: "u", password: "p" }, ref, "apps/s")).toBeUndefined();
    expect(credentialsFromSecret({ username: "u", password: "p" }, ref, "apps/s", true)).toEqual({
      username: "u",
      password: "p",
    });
    expect(() => credentialsFromSecret({ username: "u" }, ref, "apps/s", true)).toThrow(
      "invalid 'apps/s' secret data: required fields 'username' and 'password'",
    );
  });

  it("names the Secret, never its content, when the docker config cannot be read", () => {
    const secret = "hunter2-not-json";
    expect(() => credentialsFromSecret({ ".dockerconfigjson": secret }, ref, "apps/regcred")).toThrow(
      new OciCredentialsError("unable to load Docker config from Secret 'apps/regcred': not valid JSON"),
    );
    const malformed = config({ "registry.example:5000": { auth: Buffer.from("no-colon-secret").toString("base64") } });
    expect(() => credentialsFromSecret(malformed, ref, "apps/regcred")).toThrow(/malformed 'auth' value$/);
  });
});

describe("WWW-Authenticate challenges", () => {
  it("reads a bearer challenge with quoted values holding commas and escapes", () => {
    const header =
      'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push",error="say \\"no\\""';
    expect(parseChallenge(header)).toEqual({
      scheme: "bearer",
      params: {
        realm: "https://auth.example/token",
        service: "registry.example",
        scope: "repository:a/b:pull,push",
        error: 'say "no"',
      },
    });
  });

  it("reads a basic challenge, and nothing from an absent or unreadable header", () => {
    expect(parseChallenge('Basic realm="sluice-test"')).toEqual({ scheme: "basic", params: { realm: "sluice-test" } });
    expect(parseChallenge(undefined)).toBeUndefined();
    expect(parseChallenge("  ")).toBeUndefined();
  });
});
