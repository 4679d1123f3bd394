import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { describe, expect, it } from "vitest";
import { CosignError, cosignKeys } from "../../src/sources/oci/cosign.js";

// The public keys of a verify.secretRef, read as cosign's UnmarshalPEMToPublicKey and LoadVerifier
// read them: PKIX `PUBLIC KEY` or PKCS#1 `RSA PUBLIC KEY`, ECDSA on the NIST curves, RSA, Ed25519.

const spki = (type: "ec" | "rsa" | "ed25519" | "x25519", options: object = {}) =>
  (generateKeyPairSync as (t: string, o: object) => { publicKey: KeyObject })(type, options)
    .publicKey.export({ type: "spki", format: "pem" })
    .toString();

describe("cosign public keys from a Secret", () => {
  it("reads every *.pub entry of the key types cosign verifies with, in name order, and skips other entries", () => {
    const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey;
    const keys = cosignKeys(
      {
        "p256.pub": spki("ec", { namedCurve: "P-256" }),
        "p384.pub": spki("ec", { namedCurve: "P-384" }),
        "p521.pub": spki("ec", { namedCurve: "P-521" }),
        "ed.pub": spki("ed25519"),
        "rsa.pub": rsa.export({ type: "spki", format: "pem" }).toString(),
        "rsa1.pub": rsa.export({ type: "pkcs1", format: "pem" }).toString(),
        "README.md": "not a key",
      },
      "apps/keys",
    );
    expect(keys.map((k) => [k.name, k.key.asymmetricKeyType])).toEqual([
      ["ed.pub", "ed25519"],
      ["p256.pub", "ec"],
      ["p384.pub", "ec"],
      ["p521.pub", "ec"],
      ["rsa.pub", "rsa"],
      ["rsa1.pub", "rsa"],
    ]);
  });

  it.each([
    ["text that is no PEM", "hello", "PEM decoding failed"],
    [
      "a private key",
      generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
      "PEM decoding failed",
    ],
    [
      "a PEM block of garbage",
      "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
      "the PEM block does not hold a valid key",
    ],
    [
      "an ECDSA key on secp256k1",
      spki("ec", { namedCurve: "secp256k1" }),
      "unsupported public key type ec (secp256k1)",
    ],
    ["an X25519 key (key agreement, not signing)", spki("x25519"), "unsupported public key type x25519"],
  ])("refuses %s, naming the entry and the Secret", (_, pem, why) => {
    expect(() => cosignKeys({ "cosign.pub": pem }, "apps/keys")).toThrow(CosignError);
    expect(() => cosignKeys({ "cosign.pub": pem }, "apps/keys")).toThrow(
      `'cosign.pub' in secret 'apps/keys' is not a public key: ${why}`,
    );
  });
});
