import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Sha256 } from "@aws-crypto/sha256-js";
import { SignatureV4 } from "@smithy/signature-v4";
import { cacheDir } from "../../src/runtime/cache-dir.js";
import { freePort, startProcess, waitUntilReady } from "./process.js";

// A second moto that checks credentials, for the tests of wrong keys: the test bed's moto accepts any
// (its other users rely on that). moto's INITIAL_NO_AUTH_ACTION_COUNT lets the first actions through
// unauthenticated — exactly those that make an IAM user with administrator rights and its access key —
// and checks every request after them: unknown keys and bad signatures are refused as AWS refuses them.

export interface AuthMoto {
  endpoint: string;
  region: string;
  /** The administrator's access key, the only one the server accepts. */
  accessKeyId: string;
  secretAccessKey: string;
  stop(): Promise<void>;
}

/** The unauthenticated actions: CreateUser, PutUserPolicy, CreateAccessKey. */
const SETUP_ACTIONS = 3;

export async function startAuthMoto(): Promise<AuthMoto> {
  const python = join(cacheDir(), "moto-venv", "bin", "python");
  const port = await freePort();
  const moto = startProcess({
    name: "moto-auth",
    command: python,
    args: [fileURLToPath(new URL("moto-server.py", import.meta.url)), "-H", "127.0.0.1", "-p", String(port)],
    env: { INITIAL_NO_AUTH_ACTION_COUNT: String(SETUP_ACTIONS) },
    logDir: await mkdtemp(join(tmpdir(), "sluice-moto-auth-")),
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const region = "us-east-1";
  try {
    await waitUntilReady("moto-auth", async () => (await fetch(`${endpoint}/moto-api/data.json`)).ok, {
      process: moto,
      timeoutMs: 30_000,
    });
    await iamAction(port, region, { Action: "CreateUser", UserName: "admin" });
    const PolicyDocument = JSON.stringify({
      Version: "2012-10-17",
      Statement: [{ Effect: "Allow", Action: "*", Resource: "*" }],
    });
    await iamAction(port, region, { Action: "PutUserPolicy", UserName: "admin", PolicyName: "admin", PolicyDocument });
    const created = await iamAction(port, region, { Action: "CreateAccessKey", UserName: "admin" });
    const field = (name: string) => new RegExp(`<${name}>([^<]+)</${name}>`).exec(created)?.[1] ?? "";
    return {
      endpoint,
      region,
      accessKeyId: field("AccessKeyId"),
      secretAccessKey: field("SecretAccessKey"),
      stop: () => moto.stop(),
    };
  } catch (error) {
    await moto.stop();
    throw error;
  }
}

/** One IAM Query API action (the project has no IAM client): signed, as moto routes by the signature's service. */
async function iamAction(port: number, region: string, params: Record<string, string>): Promise<string> {
  const body = new URLSearchParams({ ...params, Version: "2010-05-08" }).toString();
  const credentials = { accessKeyId: "setup", secretAccessKey: "setup" };
  const signer = new SignatureV4({ service: "iam", region, credentials, sha256: Sha256 });
  const host = `127.0.0.1:${port}`;
  const headers = { host, "content-type": "application/x-www-form-urlencoded" };
  const signed = await signer.sign({
    method: "POST",
    protocol: "http:",
    hostname: "127.0.0.1",
    port,
    path: "/",
    headers,
    body,
    query: {},
  });
  const answer = await fetch(`http://${host}/`, { method: "POST", headers: signed.headers, body });
  const text = await answer.text();
  if (!answer.ok) throw new Error(`moto IAM ${params.Action}: HTTP ${answer.status} ${text}`);
  return text;
}
