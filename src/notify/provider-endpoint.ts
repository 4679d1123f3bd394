import { parse as parseYaml } from "yaml";
import { parseDuration } from "../api/duration.js";
import { COMMIT_STATUS_TYPES, type Provider } from "../api/provider.js";
import type { Secrets } from "../secrets/secrets.js";
import type { HttpProxy } from "../sources/http-proxy.js";
import { ProviderConfigError } from "./provider-config-error.js";
import { resolveProviderProxy } from "./provider-proxy.js";
import { parseSentryDsn } from "./sentry-dsn.js";

// A Provider resolved as notification-controller's createNotifier resolves it at dispatch time: the
// address (the secret's `address` key over spec.address), the token, headers and TLS material. The
// Provider reconcile runs the same resolution to report Ready, so both say the same thing.

/** Flux's Provider.GetTimeout default. */
const DEFAULT_TIMEOUT_MS = 15_000;
/** Flux refuses a longer `address` in the secret (the CRD bounds spec.address the same). */
const MAX_ADDRESS_LENGTH = 2048;

/**
 * An AWS destination named by a `generic` Provider's address (Sluice's own, not Flux's: Flux's
 * Provider CRD has no SNS or EventBridge type), published to with the runtime's IAM identity.
 */
export type AwsTarget =
  { service: "sns"; arn: string; region: string } | { service: "eventbridge"; arn: string; region: string };

/** Where and how to send one Provider's notifications. Holds secrets: never log it. */
export interface ProviderEndpoint {
  type: string;
  /** The address; for an {@link aws} target, the ARN as an opaque URL (never POSTed to). */
  url: URL;
  /** Set when the address is an SNS topic or EventBridge bus ARN: published to, not POSTed to. */
  aws?: AwsTarget;
  /** The secret's `token`: Slack's bot token, generic-hmac's key, a forge's API token. */
  token?: string;
  channel?: string;
  /** spec.username, or the secret's `username` when it holds basic auth (Flux's order). */
  username?: string;
  /** The secret's `password` (basic auth, or a forge's token when there is no `token`). */
  password?: string;
  /** The secret's `headers` (a YAML map), sent by generic and generic-hmac. */
  headers: Record<string, string>;
  caPem?: string;
  clientCert?: { certPem: string; keyPem: string };
  /** A nats Provider's servers (the address, comma-separated as nats.go takes it). */
  natsServers?: URL[];
  /** A nats Provider's secret `creds` (a user JWT and NKey seed) and `nkey` (a seed). */
  natsCredentials?: { creds?: string; nkey?: string };
  /** The forward proxy requests go through (spec.proxySecretRef, or the deprecated spec.proxy). */
  proxy?: HttpProxy;
  timeoutMs: number;
  /** Every secret value the endpoint holds, to mask in anything that is written down. */
  secretValues: string[];
}

export { ProviderConfigError };

/** Resolves a Provider's address and credentials; ProviderConfigError when something is missing or malformed. */
export async function resolveProvider(provider: Provider, secrets: Secrets): Promise<ProviderEndpoint> {
  const namespace = provider.metadata.namespace ?? "default";
  const read = async (name: string) => {
    const data = await secrets.secret({ namespace, name });
    if (!data) throw new ProviderConfigError(`failed to get secret '${namespace}/${name}': secret not found`);
    return data;
  };
  const data = provider.spec.secretRef ? await read(provider.spec.secretRef.name) : {};
  const fromSecret = data.address?.trim();
  if (fromSecret !== undefined && fromSecret.length > MAX_ADDRESS_LENGTH)
    throw new ProviderConfigError(
      `invalid address in secret: address exceeds maximum length of ${MAX_ADDRESS_LENGTH} bytes`,
    );
  const address = fromSecret || provider.spec.address || FIXED_ADDRESSES[provider.spec.type];
  const where = fromSecret
    ? `the 'address' key of secret '${namespace}/${provider.spec.secretRef?.name}'`
    : "spec.address";
  const aws = provider.spec.type === "generic" ? awsTargetOf(address, where) : undefined;
  const commitStatus = COMMIT_STATUS_TYPES.includes(provider.spec.type);
  const nats = provider.spec.type === "nats" ? natsServersOf(address, where, provider.spec.channel) : undefined;
  const url = aws ? new URL(aws.arn) : (nats?.[0] ?? parseAddress(address, where, commitStatus ? ["ssh:"] : []));
  // A Sentry DSN's keys are credentials even in spec.address: checked here (Ready says what is wrong), masked everywhere.
  const dsnKeys = provider.spec.type === "sentry" ? sentryKeys(url, where) : [];
  const token = data.token?.trim();
  const basicAuth = Boolean(data.username && data.password);
  if (
    (provider.spec.type === "github" || provider.spec.type === "githubdispatch") &&
    !token &&
    !data.password &&
    data.githubAppID
  )
    throw new ProviderConfigError(
      `GitHub App authentication (the 'githubAppID' key of secret '${namespace}/${provider.spec.secretRef?.name}') is not supported by Sluice yet; use a token`,
    );
  if (provider.spec.type === "generic-hmac" && !token)
    throw new ProviderConfigError(
      `generic-hmac needs the HMAC key in the 'token' key of spec.secretRef ('${namespace}/${provider.spec.secretRef?.name ?? ""}'): not set`,
    );
  // A commit status Provider without a certSecretRef may keep its CA in its secretRef (Flux's getTLSConfigForProvider).
  const tls = provider.spec.certSecretRef
    ? await read(provider.spec.certSecretRef.name)
    : commitStatus && data["ca.crt"]
      ? { "ca.crt": data["ca.crt"] }
      : {};
  const certSecret = `'${namespace}/${provider.spec.certSecretRef?.name}'`;
  if (Boolean(tls["tls.crt"]) !== Boolean(tls["tls.key"]))
    throw new ProviderConfigError(`secret ${certSecret} must hold both 'tls.crt' and 'tls.key', or neither`);
  // Nothing of an HTTP request applies to a publish: refused rather than silently not sent.
  if (aws && provider.spec.certSecretRef)
    throw new ProviderConfigError(`spec.certSecretRef does not apply to an ${AWS_NAMES[aws.service]} address`);
  if (aws && data.headers)
    throw new ProviderConfigError(
      `the 'headers' key of secret '${namespace}/${provider.spec.secretRef?.name}' does not apply to an ${AWS_NAMES[aws.service]} address`,
    );
  const proxied = await resolveProviderProxy(provider, data, read);
  if (aws && proxied.proxy)
    throw new ProviderConfigError(`a proxy does not apply to an ${AWS_NAMES[aws.service]} address`);
  // nats.go dials the servers itself: no HTTP proxy, and Flux gives it no TLS material.
  if (nats && proxied.proxy) throw new ProviderConfigError("a proxy does not apply to the nats type");
  if (nats && provider.spec.certSecretRef)
    throw new ProviderConfigError(
      "spec.certSecretRef does not apply to the nats type (Flux's nats notifier verifies with the system roots)",
    );
  return {
    type: provider.spec.type,
    url,
    aws,
    token,
    channel: provider.spec.channel || undefined,
    username: (basicAuth ? data.username : provider.spec.username) || undefined,
    password: basicAuth ? data.password : undefined,
    headers: parseHeaders(data.headers),
    caPem: tls["ca.crt"],
    clientCert: tls["tls.crt"] && tls["tls.key"] ? { certPem: tls["tls.crt"], keyPem: tls["tls.key"] } : undefined,
    proxy: proxied.proxy,
    ...(nats && { natsServers: nats, natsCredentials: { creds: data.creds, nkey: data.nkey } }),
    timeoutMs: provider.spec.timeout ? parseDuration(provider.spec.timeout) : DEFAULT_TIMEOUT_MS,
    secretValues: [fromSecret, token, data.username, data.password, ...Object.values(parseHeaders(data.headers))]
      .concat(dsnKeys, proxied.secretValues, nats ? [data.creds ?? "", data.nkey ?? ""] : [])
      .filter((v): v is string => Boolean(v))
      .concat(fromSecret ? [url.href] : []),
  };
}

/** The keys of a `sentry` Provider's DSN; a ProviderConfigError naming where the DSN is and what is wrong with it. */
function sentryKeys(url: URL, where: string): string[] {
  try {
    const dsn = parseSentryDsn(url);
    return [dsn.publicKey, dsn.secretKey ?? ""];
  } catch (error) {
    throw new ProviderConfigError(`invalid Sentry DSN in ${where}: ${(error as Error).message}`);
  }
}

/** Types whose API lives at one address, which Flux does not read from the Provider (telegram.go). */
const FIXED_ADDRESSES: Record<string, string> = { telegram: "https://api.telegram.org" };

const AWS_NAMES = { sns: "SNS topic", eventbridge: "EventBridge bus" } as const;
const ARN_REGION = "[a-z]{2}(?:-[a-z]+)+-\\d";
const ARN_TARGETS = {
  // Topic names: letters, digits, - and _, up to 256; a FIFO topic's ends in .fifo.
  sns: new RegExp(`^arn:aws[a-z-]*:sns:(${ARN_REGION}):\\d{12}:[A-Za-z0-9_-]{1,256}(?:\\.fifo)?$`),
  // Bus names: letters, digits and . - _ /, up to 256.
  eventbridge: new RegExp(`^arn:aws[a-z-]*:events:(${ARN_REGION}):\\d{12}:event-bus/[A-Za-z0-9._/-]{1,256}$`),
};

/** An SNS topic or EventBridge bus ARN; undefined for any address that does not start `arn:` (an HTTP one). */
function awsTargetOf(address: string | undefined, where: string): AwsTarget | undefined {
  if (!address?.startsWith("arn:")) return undefined;
  for (const service of ["sns", "eventbridge"] as const) {
    const region = ARN_TARGETS[service].exec(address)?.[1];
    if (region) return { service, arn: address, region };
  }
  throw new ProviderConfigError(
    `invalid address in ${where}: an ARN address must name an SNS topic (arn:aws:sns:<region>:<account>:<topic>) or an EventBridge bus (arn:aws:events:<region>:<account>:event-bus/<name>)`,
  );
}

/** nats.go's server list: `nats://` or `tls://` URLs, comma-separated; and the subject, which nats.go requires. */
function natsServersOf(address: string | undefined, where: string, subject: string | undefined): URL[] {
  if (!address)
    throw new ProviderConfigError(
      "NATS server (address) cannot be empty: set spec.address or the 'address' key of spec.secretRef",
    );
  if (!subject) throw new ProviderConfigError("NATS subject (channel) cannot be empty: set spec.channel");
  return address.split(",").map((server) => {
    let url: URL;
    try {
      url = new URL(server.trim());
    } catch {
      throw new ProviderConfigError(`invalid address in ${where}: not a list of nats:// or tls:// URLs`);
    }
    if ((url.protocol !== "nats:" && url.protocol !== "tls:") || !url.hostname)
      throw new ProviderConfigError(
        `invalid address in ${where}: a NATS server is nats://host:port or tls://host:port`,
      );
    return url;
  });
}

/**
 * An http(s) URL (or another of `schemes`), as Go's url.ParseRequestURI takes one; the message never
 * repeats the address (it may be secret).
 */
function parseAddress(address: string | undefined, where: string, schemes: string[]): URL {
  if (!address) throw new ProviderConfigError(`no address: set spec.address or the 'address' key of spec.secretRef`);
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    throw new ProviderConfigError(`invalid address in ${where}: not an absolute URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:" && !schemes.includes(url.protocol))
    throw new ProviderConfigError(
      `invalid address in ${where}: ${schemes.length > 0 ? "only http, https and ssh addresses name a repository" : "only http and https are sent to"}`,
    );
  return url;
}

function parseHeaders(text: string | undefined): Record<string, string> {
  if (!text) return {};
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch {
    throw new ProviderConfigError("failed to read headers from secret: not YAML");
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed))
    throw new ProviderConfigError("failed to read headers from secret: not a map of header names to values");
  return Object.fromEntries(Object.entries(parsed).map(([k, v]) => [k, String(v)]));
}

/** `text` with every secret value replaced by `***` (Flux's masktoken), for logs, events and status. */
export function maskSecrets(text: string, secretValues: readonly string[]): string {
  return [...secretValues]
    .sort((a, b) => b.length - a.length)
    .reduce((masked, value) => (value ? masked.replaceAll(value, "***") : masked), text);
}
