import { generateKeyPairSync } from "node:crypto";
import { connect as tcpConnect } from "node:net";
import ssh2 from "ssh2";
import { assertLiteralAllowed, guardedLookup, type NetworkPolicy } from "../sources/network-guard.js";

// What `flux bootstrap` puts in the flux-system Secret for Git over SSH: a fresh deploy key (Flux's default
// algorithm, ed25519) and the Git host's key as it answers now (flux scans it the same way, trusting the
// first answer; `--ssh-hostname` there, the API's SSH URL here).

/** A deploy key: the private key as unencrypted PKCS#8 PEM (x/crypto and Sluice read it), the public key as an authorized_keys line. */
export interface DeployKey {
  identity: string;
  identityPub: string;
}

export function generateDeployKey(): DeployKey {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const raw = Buffer.from(publicKey.export({ format: "jwk" }).x!, "base64url");
  return {
    identity: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    identityPub: `ssh-ed25519 ${Buffer.concat([sshString(Buffer.from("ssh-ed25519")), sshString(raw)]).toString("base64")}`,
  };
}

/** SSH's wire `string`: a 4-byte big-endian length, then the bytes. */
function sshString(bytes: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

const SCAN_TIMEOUT_MS = 15_000;

/**
 * The host key `host:port` presents, as a known_hosts line (`[host]:port` when the port is not 22). The
 * connection ends once the key is seen: nothing is authenticated.
 */
export async function scanHostKey(host: string, port: number, network: NetworkPolicy): Promise<string> {
  assertLiteralAllowed(host, network);
  const client = new ssh2.Client();
  const sock = tcpConnect({ host, port, lookup: guardedLookup(network) });
  let seen: Buffer | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      client.on("error", (error: Error) =>
        seen ? resolve() : reject(new Error(`ssh ${host}:${port}: ${error.message}`)),
      );
      client.on("close", () => (seen ? resolve() : reject(new Error(`ssh ${host}:${port}: closed before a host key`))));
      client.connect({
        sock,
        username: "git",
        readyTimeout: SCAN_TIMEOUT_MS,
        hostVerifier: (key: Buffer) => {
          seen = key;
          resolve();
          return false;
        },
      });
    });
  } finally {
    client.end();
    sock.destroy();
  }
  const type = seen!.subarray(4, 4 + seen!.readUInt32BE(0)).toString("latin1");
  const pattern = port === 22 ? host : `[${host}]:${port}`;
  return `${pattern} ${type} ${seen!.toString("base64")}\n`;
}
