import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from "node:dns";
import { isIP, type LookupFunction } from "node:net";

// Which addresses a source may be fetched from. The check runs on the address a socket is about to
// connect to (every DNS answer, every IP literal, every redirect hop), never on the URL's text, so
// DNS names, numeric hosts (`2130706433`, `0x7f.1`, `127.1`) and redirects cannot route around it.

/** The operator's choice, from `Settings.allowPrivateNetworks`. */
export interface NetworkPolicy {
  /** Loopback, RFC 1918, RFC 4193 and CGNAT addresses may be fetched. Link-local and metadata never are. */
  allowPrivateNetworks: boolean;
}

/** A connection refused by the network policy; the message says which address and why. */
export class RefusedAddressError extends Error {
  override name = "RefusedAddressError";
}

type Cidr = { network: number[]; bits: number };
type Range = Cidr & { label: string; never: boolean };

const never = (text: string, label: string): Range => ({ ...cidr(text), label, never: true });
const restricted = (text: string, label: string): Range => ({ ...cidr(text), label, never: false });

/** First match wins: the metadata addresses inside private ranges come before those ranges. */
const RANGES: Range[] = [
  never("169.254.0.0/16", "link-local/metadata"),
  never("100.100.100.200/32", "link-local/metadata"), // Alibaba Cloud's metadata service, inside CGNAT
  never("0.0.0.0/8", "unspecified"),
  never("224.0.0.0/4", "multicast"),
  never("240.0.0.0/4", "reserved"), // includes the broadcast address
  never("fe80::/10", "link-local/metadata"),
  never("fd00:ec2::/64", "link-local/metadata"), // EC2's IPv6 metadata, DNS and time services, inside fc00::/7
  never("::/128", "unspecified"),
  never("ff00::/8", "multicast"),
  restricted("127.0.0.0/8", "loopback"),
  restricted("10.0.0.0/8", "private"),
  restricted("172.16.0.0/12", "private"),
  restricted("192.168.0.0/16", "private"),
  restricted("100.64.0.0/10", "CGNAT"),
  restricted("::1/128", "loopback"),
  restricted("fc00::/7", "private"),
  restricted("fec0::/10", "private"), // deprecated site-local
];

/** IPv6 ranges whose last 32 bits are an IPv4 address the packet ends up at: mapped, compatible, NAT64, 6to4. */
const EMBEDDING: (Cidr & { at: number })[] = [
  { ...cidr("::ffff:0:0/96"), at: 12 },
  { ...cidr("::/96"), at: 12 },
  { ...cidr("64:ff9b::/96"), at: 12 },
  { ...cidr("64:ff9b:1::/48"), at: 12 },
  { ...cidr("2002::/16"), at: 2 },
];

/** Why `address` (an IP literal) must not be fetched under `policy`, or undefined when it may be. */
export function addressRefusal(address: string, policy: NetworkPolicy): string | undefined {
  const bytes = parseIp(address);
  if (!bytes) return `address ${address} is not an IP address`;
  const found = classify(bytes);
  if (!found) return undefined;
  if (found.never) return `address ${address} is ${found.label} and never fetched`;
  if (policy.allowPrivateNetworks) return undefined;
  const kind = found.label === "private" ? "" : ` (${found.label})`;
  return `private address ${address}${kind} refused: set allowPrivateNetworks / --no-private-networks to change`;
}

/** A `lookup` for sockets that resolves as usual and fails unless every address the name resolves to is allowed. */
export function guardedLookup(policy: NetworkPolicy): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...(options as LookupOptions), all: true }, (error, addresses: LookupAddress[]) => {
      if (error) return callback(error, "", 0);
      const refusal = addresses.map((a) => addressRefusal(a.address, policy)).find((r) => r !== undefined);
      if (refusal) return callback(new RefusedAddressError(`host ${hostname}: ${refusal}`), "", 0);
      if ((options as LookupOptions).all) return callback(null, addresses);
      const [first] = addresses;
      callback(null, first?.address ?? "", first?.family ?? 0);
    });
  };
}

/** Throws unless `host`, when an IP literal, is allowed; host names are checked when resolved (guardedLookup). */
export function assertLiteralAllowed(host: string, policy: NetworkPolicy): void {
  if (isIP(withoutZone(host)) === 0) return;
  const refusal = addressRefusal(host, policy);
  if (refusal) throw new RefusedAddressError(refusal);
}

function classify(bytes: number[]): Range | undefined {
  const embedding =
    bytes.length === 16 && !isLoopbackOrUnspecified(bytes) ? EMBEDDING.find((e) => matches(bytes, e)) : undefined;
  const target = embedding ? bytes.slice(embedding.at, embedding.at + 4) : bytes;
  return RANGES.find((r) => matches(target, r));
}

function isLoopbackOrUnspecified(bytes: number[]): boolean {
  return bytes.slice(0, 15).every((b) => b === 0) && (bytes[15] ?? 0) <= 1;
}

function matches(bytes: number[], r: Cidr): boolean {
  if (bytes.length !== r.network.length) return false;
  for (let bit = 0; bit < r.bits; bit += 8) {
    const mask = r.bits - bit >= 8 ? 0xff : (0xff << (8 - (r.bits - bit))) & 0xff;
    if (((bytes[bit / 8] ?? 0) & mask) !== ((r.network[bit / 8] ?? 0) & mask)) return false;
  }
  return true;
}

function cidr(text: string): Cidr {
  const [address = "", bits = ""] = text.split("/");
  const network = parseIp(address);
  if (!network) throw new Error(`network range ${text} is not valid`);
  return { network, bits: Number(bits) };
}

/** Bytes of a canonical IPv4 or IPv6 literal (as sockets and DNS report them), undefined for anything else. */
function parseIp(text: string): number[] | undefined {
  const address = withoutZone(text);
  const family = isIP(address);
  if (family === 4) return address.split(".").map(Number);
  if (family !== 6) return undefined;
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(address)?.[1];
  const hex = dotted ? address.slice(0, -dotted.length) + "0:0" : address;
  const [head = "", tail] = hex.split("::");
  const groups = (part: string | undefined) => (part ? part.split(":").map((g) => Number.parseInt(g, 16)) : []);
  const [left, right] = [groups(head), groups(tail)];
  const words =
    tail === undefined ? left : [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
  const bytes = words.flatMap((w) => [w >> 8, w & 0xff]);
  if (dotted) bytes.splice(12, 4, ...dotted.split(".").map(Number));
  return bytes;
}

function withoutZone(address: string): string {
  return address.replace(/^\[|\]$/g, "").replace(/%.*$/, "");
}

/** The addresses `host` (a name or an IP literal) resolves to, each allowed under `policy`; a RefusedAddressError otherwise. */
export async function resolveGuarded(host: string, policy: NetworkPolicy): Promise<string[]> {
  if (isIP(withoutZone(host)) !== 0) {
    assertLiteralAllowed(host, policy);
    return [host];
  }
  const lookup = guardedLookup(policy);
  return new Promise((resolve, reject) =>
    lookup(host, { all: true }, (error, addresses) =>
      error ? reject(error) : resolve((addresses as unknown as LookupAddress[]).map((a) => a.address)),
    ),
  );
}
