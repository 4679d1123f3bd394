import { cp, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { homedir, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { stringify } from "yaml";
import { parseDuration } from "../api/duration.js";
import { archiveTree } from "../artifacts/archive.js";
import { extractArchive, readArchive } from "../artifacts/extract.js";
import { fluxTarball } from "../artifacts/flux-tarball.js";
import { ecrLogin } from "../aws/ecr.js";
import { systemClock } from "../ports/clock.js";
import { newestMatchingTag } from "../sources/helm-chart-version.js";
import { OciClient, type OciClientOptions } from "../sources/oci/client.js";
import { credentialsFromSecret, type OciCredentials } from "../sources/oci/credentials.js";
import { artifactAnnotations, pullFluxArtifact, pushFluxArtifact } from "../sources/oci/flux-artifact.js";
import { OciPublisher } from "../sources/oci/publisher.js";
import { parseOciUrl, type OciRepositoryRef } from "../sources/oci/reference.js";
import type { GlobalOptions } from "./context.js";
import { say } from "./output.js";

// `sluice push|pull|tag artifact` and `sluice list artifacts`, as flux v2.9.5's commands of those
// names (cmd/flux/*_artifact.go over fluxcd/pkg/oci): the same flags, output lines and errors.
// Credentials: `--provider aws` (ECR, from the AWS identity), else `--creds user:password`, else the
// docker config (`$DOCKER_CONFIG/config.json` or `~/.docker/config.json`, its `auths`). An extra CA
// for a registry's TLS from SSL_CERT_FILE, as Go programs take it.

/** The flags every artifact command shares. */
export interface RegistryFlags {
  creds?: string;
  provider: string;
  insecureRegistry?: boolean;
}

export interface PushFlags extends RegistryFlags {
  path?: string;
  source?: string;
  revision?: string;
  annotations?: string[];
  ignorePaths: string[];
  output?: string;
  reproducible?: boolean;
}

export interface DiffFlags extends RegistryFlags {
  path?: string;
  ignorePaths: string[];
}

export interface TagFlags extends RegistryFlags {
  tag?: string[];
}

export interface ListFlags extends RegistryFlags {
  filterRegex?: string;
  filterSemver?: string;
}

/** A pulled layer larger than this is refused (Flux's CLI sets no limit; a hostile registry could send a bomb). */
const MAX_LAYER_BYTES = 1 << 30;
/** The distribution spec's tag grammar. */
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
/** Layers from this size on get progress lines on stderr (smaller pushes print exactly flux's lines). */
const PROGRESS_BYTES = 1 << 20;

/** `oci://host/repo[:tag|@digest]` split into the repository and the reference (`latest` when none). */
export function parseArtifactUrl(url: string, insecure = false): { ref: OciRepositoryRef; reference: string } {
  if (!url.startsWith("oci://")) throw new Error("URL must be in format 'oci://<domain>/<org>/<repo>'");
  const at = url.indexOf("@");
  if (at >= 0) return { ref: parseOciUrl(url.slice(0, at), insecure), reference: url.slice(at + 1) };
  const colon = url.lastIndexOf(":");
  const tagged = colon > url.lastIndexOf("/");
  const ref = parseOciUrl(tagged ? url.slice(0, colon) : url, insecure);
  const reference = tagged ? url.slice(colon + 1) : "latest";
  if (!TAG.test(reference)) throw new Error(`'${url}' invalid URL: tag '${reference}' is not a valid tag`);
  return { ref, reference };
}

const repositoryName = (ref: OciRepositoryRef) => `${ref.registry}/${ref.repository}`;

/** `sluice push artifact oci://repo:tag --path --source --revision`. */
export async function pushArtifact(url: string, flags: PushFlags, options: GlobalOptions): Promise<void> {
  if (!flags.source) throw new Error("--source is required");
  if (!flags.revision) throw new Error("--revision is required");
  if (!flags.path) throw new Error(`invalid path "${flags.path ?? ""}"`);
  if (flags.output && !["json", "yaml"].includes(flags.output))
    throw new Error(`invalid output format '${flags.output}': json or yaml`);
  const { ref, reference } = parseArtifactUrl(url, flags.insecureRegistry);
  if (reference.includes(":")) throw new Error(`artifact tag parsing failed: '${url}' names a digest, not a tag`);
  const path = flags.path === "-" ? await stdinToFile() : flags.path;
  try {
    await stat(path).catch((error: Error) => {
      throw new Error(`invalid path '${path}', must point to an existing directory or file: ${error.message}`, {
        cause: error,
      });
    });
    const annotations = artifactAnnotations(
      {
        source: flags.source,
        revision: flags.revision,
        created: flags.reproducible ? "1970-01-01T00:00:00Z" : undefined,
        annotations: parseAnnotations(flags.annotations ?? []),
      },
      new Date(),
    );
    const publisher = new OciPublisher(await clientOptions(ref, flags, options));
    if (!flags.output) say.action(`pushing artifact to ${repositoryName(ref)}:${reference}`);
    const { data: layer } = await fluxTarball(path, flags.ignorePaths);
    const started = Date.now();
    const large = layer.length >= PROGRESS_BYTES;
    if (large) say.action(`uploading layer of ${mebibytes(layer.length)}`);
    const digest = await pushFluxArtifact(publisher, reference, layer, annotations, (uploaded) => {
      if (large) say.success(`layer ${uploaded ? "uploaded" : "already in the registry"} (${Date.now() - started} ms)`);
    }).catch((error: Error) => {
      throw new Error(`pushing artifact failed: ${error.message}`, { cause: error });
    });
    const info = {
      url: `oci://${repositoryName(ref)}@${digest}`,
      repository: repositoryName(ref),
      tag: reference,
      digest,
    };
    if (flags.output === "json") process.stdout.write(`${JSON.stringify(info, null, 2)}\n`);
    else if (flags.output === "yaml") process.stdout.write(stringify(info, { sortMapEntries: true }));
    else say.success(`artifact successfully pushed to ${repositoryName(ref)}@${digest}`);
  } finally {
    if (flags.path === "-") await rm(dirname(path), { recursive: true, force: true });
  }
}

/** `sluice pull artifact oci://repo:tag --output DIR`: extracted with OCIRepository's path checks, links dropped. */
export async function pullArtifact(
  url: string,
  flags: RegistryFlags & { output?: string },
  options: GlobalOptions,
): Promise<void> {
  if (!flags.output) throw new Error("output path cannot be empty");
  const output = flags.output;
  const isDir = await stat(output).then(
    (s) => s.isDirectory(),
    () => false,
  );
  if (!isDir) throw new Error(`invalid output path "${output}": not an existing directory`);
  const { ref, reference } = parseArtifactUrl(url, flags.insecureRegistry);
  const client = new OciClient(await clientOptions(ref, flags, options));
  say.action(`pulling artifact from ${repositoryName(ref)}${reference.includes(":") ? "@" : ":"}${reference}`);
  const pulled = await pullFluxArtifact(client, reference, MAX_LAYER_BYTES);
  if (pulled.layer.length >= PROGRESS_BYTES) say.success(`downloaded layer of ${mebibytes(pulled.layer.length)}`);
  await extractInto(pulled.layer, output);
  if (pulled.source) say.success(`source ${pulled.source}`);
  if (pulled.revision) say.success(`revision ${pulled.revision}`);
  say.success(`digest ${repositoryName(ref)}@${pulled.digest}`);
  say.success(`artifact content extracted to ${output}`);
}

/**
 * `sluice diff artifact oci://repo:tag --path DIR`: exit 1 when the remote artifact's files differ from what
 * `push artifact` would upload. Flux compares the gzip bytes, so a layer flux pushed never equals one built
 * here (zlib's bytes); the files are compared instead: paths, contents and executable bits, as extracted.
 */
export async function diffArtifact(url: string, flags: DiffFlags, options: GlobalOptions): Promise<void> {
  if (!flags.path) throw new Error(`invalid path "${flags.path ?? ""}"`);
  const { ref, reference } = parseArtifactUrl(url, flags.insecureRegistry);
  const path = flags.path;
  await stat(path).catch((error: Error) => {
    throw new Error(`invalid path '${path}', must point to an existing directory or file`, { cause: error });
  });
  const client = new OciClient(await clientOptions(ref, flags, options));
  const local = (await fluxTarball(path, flags.ignorePaths)).data;
  const remote = await pullFluxArtifact(client, reference, MAX_LAYER_BYTES);
  const digestOf = async (layer: Buffer) =>
    (await archiveTree((await readArchive(layer, { skipSymlinks: true })).tree, { unfiltered: true })).digest;
  if ((await digestOf(local)) !== (await digestOf(remote.layer)))
    throw new Error("the remote artifact contents differs from the local one");
  say.success("no changes detected");
}

/** `sluice build artifact --path DIR -o FILE`: the layer `push artifact` would upload, written to a file. */
export async function buildArtifact(flags: { path?: string; output: string; ignorePaths: string[] }): Promise<void> {
  if (!flags.path) throw new Error(`invalid path "${flags.path ?? ""}"`);
  const path = flags.path === "-" ? await stdinToFile() : flags.path;
  try {
    await stat(path).catch((error: Error) => {
      throw new Error(`invalid path '${path}', must point to an existing directory or file`, { cause: error });
    });
    say.action(`building artifact from ${path}`);
    await writeFile(flags.output, (await fluxTarball(path, flags.ignorePaths)).data, { mode: 0o640 });
    say.success(`artifact created at ${flags.output}`);
  } finally {
    if (flags.path === "-") await rm(dirname(path), { recursive: true, force: true });
  }
}

/** `sluice tag artifact oci://repo:tag --tag new`: the manifest PUT again under each new tag. */
export async function tagArtifact(url: string, flags: TagFlags, options: GlobalOptions): Promise<void> {
  if (!flags.tag?.length) throw new Error("--tag is required");
  const { ref, reference } = parseArtifactUrl(url, flags.insecureRegistry);
  const publisher = new OciPublisher(await clientOptions(ref, flags, options));
  say.action("tagging artifact");
  let manifest: { mediaType: string; body: Buffer } | undefined;
  for (const tag of flags.tag) {
    try {
      if (!TAG.test(tag)) throw new Error(`'${tag}' is not a valid tag`);
      manifest ??= await publisher.rawManifest(reference);
      await publisher.putManifest(tag, manifest.body, manifest.mediaType);
    } catch (error) {
      throw new Error(`tagging artifact failed: ${(error as Error).message}`, { cause: error });
    }
    say.success(`artifact tagged as ${repositoryName(ref)}:${tag}`);
  }
}

/** `sluice list artifacts oci://repo`: tags newest-named first, cosign's left out, each with its manifest's origin. */
export async function listArtifacts(url: string, flags: ListFlags, options: GlobalOptions): Promise<void> {
  const { ref } = parseArtifactUrl(url, flags.insecureRegistry);
  const client = new OciClient(await clientOptions(ref, flags, options));
  let regex: RegExp | undefined;
  try {
    regex = flags.filterRegex ? new RegExp(flags.filterRegex) : undefined;
  } catch (error) {
    throw new Error(`regex '${flags.filterRegex}' parse error: ${(error as Error).message}`, { cause: error });
  }
  const allowed = (tag: string): boolean => {
    // fluxcd/pkg/version.ParseVersion: three dot-separated parts, then Masterminds' parse.
    if (flags.filterSemver && (tag.split(".").length < 3 || !newestMatchingTag([tag], flags.filterSemver)))
      return false;
    return !regex || regex.test(tag);
  };
  try {
    if (flags.filterSemver) newestMatchingTag([], flags.filterSemver); // a bad constraint fails before any request
  } catch (error) {
    throw new Error(`semver '${flags.filterSemver}' parse error: ${(error as Error).message}`, { cause: error });
  }
  const tags = await client.tags().catch((error: Error) => {
    throw new Error(`listing tags failed: ${error.message}`, { cause: error });
  });
  const rows: string[][] = [];
  for (const tag of tags.sort((a, b) => (a > b ? -1 : a < b ? 1 : 0))) {
    if ([".att", ".sbom", ".sig"].some((suffix) => tag.endsWith(suffix)) || !allowed(tag)) continue;
    const { digest, manifest } = await client.manifest(tag).catch((error: Error) => {
      throw new Error(`fetching manifest failed: ${error.message}`, { cause: error });
    });
    const annotations = manifest.annotations ?? {};
    rows.push([
      `${url.slice("oci://".length)}:${tag}`,
      digest,
      annotations["org.opencontainers.image.source"] ?? "",
      annotations["org.opencontainers.image.revision"] ?? "",
    ]);
  }
  process.stdout.write(fluxTable(["ARTIFACT", "DIGEST", "SOURCE", "REVISION"], rows));
}

/**
 * flux's printers.TablePrinter (tablewriter v0.0.5, no borders, tab padding, no white space): every
 * cell padded to its column's width; header cells end with a tab but the last with a space, row
 * cells all with a tab.
 */
export function fluxTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const head = header.map((h, i) => h.padEnd(widths[i]!) + (i === header.length - 1 ? " " : "\t")).join("");
  return [head, ...rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!) + "\t").join(""))].join("\n") + "\n";
}

/** `--annotations key=value`, each exactly one `=` as flux splits them. */
function parseAnnotations(values: string[]): Record<string, string> {
  const annotations: Record<string, string> = {};
  for (const value of values) {
    const parts = value.split("=");
    if (parts.length !== 2) throw new Error(`invalid annotation ${value}, must be in the format key=value`);
    annotations[parts[0]!] = parts[1]!;
  }
  return annotations;
}

/** Registry, credentials, CA and timeout of one command. */
async function clientOptions(
  ref: OciRepositoryRef,
  flags: RegistryFlags,
  options: GlobalOptions,
): Promise<OciClientOptions> {
  const caFile = process.env.SSL_CERT_FILE;
  return {
    ref,
    credentials: await credentialsFor(ref, flags),
    // The CLI acts for its user, on the user's network: a registry on loopback or a private address is theirs.
    network: { allowPrivateNetworks: true },
    caPem: caFile ? await readFile(caFile, "utf8") : undefined,
    signal: AbortSignal.timeout(parseDuration(options.timeout)),
  };
}

async function credentialsFor(ref: OciRepositoryRef, flags: RegistryFlags): Promise<OciCredentials | undefined> {
  if (!["generic", "aws", "azure", "gcp"].includes(flags.provider))
    throw new Error(
      `source OCI provider '${flags.provider}' is not supported, must be one of: generic, aws, azure, gcp`,
    );
  if (flags.provider !== "generic") {
    say.action("logging in to registry with provider credentials");
    try {
      return await ecrLogin({ endpoint: process.env.SLUICE_AWS_ENDPOINT }, systemClock).login(
        flags.provider,
        ref.registry,
      );
    } catch (error) {
      throw new Error(`error during login with provider: ${(error as Error).message}`, { cause: error });
    }
  }
  if (flags.creds !== undefined && flags.creds !== "") {
    say.action("logging in to registry with credentials");
    const colon = flags.creds.indexOf(":");
    // go-containerregistry sends a lone value as a registry token, which Sluice's client does not speak.
    if (colon < 0)
      throw new Error(
        "could not login with credentials: a registry token alone is not supported, use <username>:<password>",
      );
    return { username: flags.creds.slice(0, colon), password: flags.creds.slice(colon + 1) };
  }
  const path = join(process.env.DOCKER_CONFIG ?? join(homedir(), ".docker"), "config.json");
  const text = await readFile(path, "utf8").catch(() => undefined);
  return text === undefined ? undefined : credentialsFromSecret({ ".dockerconfigjson": text }, ref, path);
}

/**
 * Extracts into a fresh folder first, then copies over `output` (flux extracts over what is there), so
 * an archive refused half-way (an escaping path, a bomb) leaves nothing of it in `output`.
 */
async function extractInto(layer: Buffer, output: string): Promise<void> {
  const staging = await mkdtemp(join(tmpdir(), "sluice-pull-"));
  try {
    await extractArchive(layer, staging, { skipSymlinks: true });
    await cp(staging, output, { recursive: true, force: true });
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/** `--path -`: stdin saved to a temporary `.yaml` file, trailing newlines trimmed, as flux's saveReaderToFile. */
async function stdinToFile(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const folder = await mkdtemp(join(tmpdir(), "sluice-stdin-"));
  const file = join(folder, "stdin.yaml");
  await writeFile(
    file,
    Buffer.concat(chunks)
      .toString("utf8")
      .replace(/[\r\n]+$/, ""),
  );
  return file;
}

function mebibytes(bytes: number): string {
  return `${(bytes / (1 << 20)).toFixed(1)} MiB`;
}
