import { readFileSync } from "node:fs";
import { parse } from "yaml";
import type { Transport } from "./kube-client.js";

/**
 * The parts of a kubeconfig Sluice connects with, read as client-node 2.0's KubeConfig reads them (loadFromString,
 * then applyToHTTPSOptions): the same required fields and messages, `*-data` as base64, the file variants read,
 * the server's trailing slash dropped, and `username`/`password` sent as Basic auth (client-node left them out of
 * what Sluice's client used). Read here rather than through client-node: loading that package (its own
 * undici, ws, js-yaml, jsonpath) cost `sluice run` more memory than the rest of its start.
 */
export interface KubeconfigTarget {
  server: string;
  clusterName: string;
  userName?: string;
  skipTLSVerify: boolean;
  /** The user runs an exec plugin or an auth provider (refused by the caller). */
  runsCommand: boolean;
  transport: Transport;
}

/** A kubeconfig that cannot be used; the message names the entry, field or context. */
export class KubeconfigError extends Error {
  override name = "KubeconfigError";
}

type Entry = Record<string, unknown>;

/**
 * The target of `context` (else the kubeconfig's current-context). Without `localFiles`, a field naming a file
 * (`token-file`, `certificate-authority`, `client-certificate`, `client-key`) is refused: a kubeconfig from a Secret
 * is a tenant's, and a file of Sluice's own machine (its service account token, say) must not be read for it and
 * sent to a server the tenant chose.
 */
export function readKubeconfig(text: string, context?: string, options = { localFiles: true }): KubeconfigTarget {
  const config: unknown = parse(text);
  if (!isEntry(config)) throw invalid("not a YAML mapping");
  const clusters = named(config.clusters, "clusters", "cluster", ["server"]);
  const users = named(config.users, "users", "user", []);
  const contexts = named(config.contexts, "contexts", "context", ["cluster"]);
  const contextName = context ?? stringOf(config["current-context"]);
  const chosen = contexts.find((c) => c.name === contextName)?.body;
  if (context !== undefined && !chosen) throw new KubeconfigError(`kubeconfig has no context "${context}"`);
  const cluster = clusters.find((c) => c.name === chosen?.cluster);
  if (!chosen || !cluster) throw new KubeconfigError(`kubeconfig context "${contextName}" names no cluster`);
  const user = users.find((u) => u.name === chosen.user);
  const u = user?.body ?? {};
  const c = cluster.body;
  if (!options.localFiles) {
    const fields = [
      ["cluster", cluster.name, c, "certificate-authority"],
      ["user", user?.name, u, "token-file"],
      ["user", user?.name, u, "client-certificate"],
      ["user", user?.name, u, "client-key"],
    ] as const;
    for (const [entry, name, body, field] of fields)
      if (stringOf(body[field]))
        throw new KubeconfigError(
          `kubeconfig ${entry} "${name}" sets ${field}, a file of the machine reading it, which a kubeconfig from a Secret may not name; put the content in ${field === "token-file" ? "token" : `${field}-data`}`,
        );
  }

  const headers: Record<string, string> = {};
  // A token file is read once, its surrounding whitespace dropped as client-go drops it.
  const tokenFile = stringOf(u["token-file"]);
  const token = stringOf(u.token) ?? (tokenFile && readFileSync(tokenFile, "utf8").trim());
  if (stringOf(u.username))
    headers.Authorization = `Basic ${Buffer.from(`${stringOf(u.username)}:${stringOf(u.password)}`).toString("base64")}`;
  if (token) headers.Authorization = `Bearer ${token}`;
  if (stringOf(u.as)) headers["Impersonate-User"] = stringOf(u.as)!;
  const transport: Transport = {
    ...optional("ca", fileOrData(c["certificate-authority"], c["certificate-authority-data"])),
    ...optional("cert", fileOrData(u["client-certificate"], u["client-certificate-data"])),
    ...optional("key", fileOrData(u["client-key"], u["client-key-data"])),
    ...optional("servername", stringOf(c["tls-server-name"])),
    ...(c["insecure-skip-tls-verify"] === true && { rejectUnauthorized: false }),
    ...(Object.keys(headers).length > 0 && { headers }),
  };
  return {
    server: stringOf(c.server)!.replace(/\/$/, ""),
    clusterName: cluster.name,
    userName: user?.name,
    skipTLSVerify: c["insecure-skip-tls-verify"] === true,
    runsCommand: Boolean(u.exec || u["auth-provider"]),
    transport,
  };
}

/** A kubeconfig list (clusters, users, contexts): each entry's name and body, the `required` body fields present. */
function named(list: unknown, field: string, body: string, required: string[]): { name: string; body: Entry }[] {
  if (!Array.isArray(list)) return [];
  return list.map((element: unknown, i) => {
    const entry = isEntry(element) ? element : {};
    if (!entry.name) throw invalid(`${field}[${i}].name is missing`);
    const inner = entry[body];
    if (required.length > 0 && !isEntry(inner)) throw invalid(`${field}[${i}].${body} is missing`);
    for (const key of required) if (!(inner as Entry)[key]) throw invalid(`${field}[${i}].${body}.${key} is missing`);
    return { name: String(entry.name), body: isEntry(inner) ? inner : {} };
  });
}

function invalid(problem: string): KubeconfigError {
  return new KubeconfigError(`kubeconfig is not valid: ${problem}`);
}

function fileOrData(file: unknown, data: unknown): Buffer | undefined {
  if (stringOf(file)) return readFileSync(stringOf(file)!);
  if (stringOf(data)) return Buffer.from(stringOf(data)!, "base64");
  return undefined;
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

function stringOf(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}

function isEntry(value: unknown): value is Entry {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
