import { access, constants, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { join } from "node:path";
import { nkeys } from "nats";
import type { Running, RunContext } from "./component.js";
import { MissingPrerequisiteError, freePort, startProcess, waitUntilReady } from "./process.js";

// The real nats-server (test/env/build-nats.sh) on a free loopback port, with the users the nats
// Provider tests sign in as: a password user allowed to publish on `flux.>` only, an NKey user, and
// an observer that subscribes to everything to see what was published.

export interface NatsInfo {
  /** `nats://127.0.0.1:<port>` */
  url: string;
  /** Publishes on `flux.>` only. */
  publisher: { user: string; password: string };
  /** An NKey user (its seed, as the Provider secret's `nkey` holds it), publishing anywhere. */
  nkeyUser: { seed: string; publicKey: string };
  /** Subscribes to `>`. */
  observer: { user: string; password: string };
  /** A second server in operator (JWT) mode, and a user's creds file for it, allowed to publish on `flux.>` only. */
  operator: { url: string; creds: string };
  version: string;
}

const VERSION = process.env.SLUICE_NATS_VERSION ?? "v2.15.3";

export async function start(ctx: RunContext): Promise<Running<NatsInfo>> {
  const binary = join(ctx.cacheDir, "nats", VERSION, "nats-server");
  if (
    !(await access(binary, constants.X_OK).then(
      () => true,
      () => false,
    ))
  )
    throw new MissingPrerequisiteError(`nats-server ${VERSION} at ${binary}`, "bash test/env/build-nats.sh");
  const port = await freePort();
  const kp = nkeys.createUser();
  const nkeyUser = { seed: new TextDecoder().decode(kp.getSeed()), publicKey: kp.getPublicKey() };
  const publisher = { user: "flux-publisher", password: "nats-pass-5d1f0c" };
  const observer = { user: "observer", password: "observer-pass-88a2" };
  const config = join(ctx.runDir, "nats.conf");
  // JSON is valid nats-server configuration.
  await writeFile(
    config,
    JSON.stringify({
      listen: `127.0.0.1:${port}`,
      authorization: {
        users: [
          { user: publisher.user, password: publisher.password, permissions: { publish: ["flux.>"], subscribe: [] } },
          { nkey: nkeyUser.publicKey },
          { user: observer.user, password: observer.password, permissions: { publish: [], subscribe: [">"] } },
        ],
      },
    }),
  );
  const operatorPort = await freePort();
  const trust = operatorMode();
  const operatorConfig = join(ctx.runDir, "nats-operator.conf");
  await writeFile(
    operatorConfig,
    JSON.stringify({
      listen: `127.0.0.1:${operatorPort}`,
      operator: trust.operatorJwt,
      resolver: "MEMORY",
      resolver_preload: { [trust.account]: trust.accountJwt },
    }),
  );
  const servers = [
    startProcess({ name: "nats", command: binary, args: ["-c", config], logDir: ctx.logDir }),
    startProcess({ name: "nats-operator", command: binary, args: ["-c", operatorConfig], logDir: ctx.logDir }),
  ];
  await Promise.all(
    [port, operatorPort].map((listening, i) =>
      waitUntilReady(
        "nats-server",
        () =>
          new Promise((resolve) => {
            const socket = connect(listening, "127.0.0.1", () => (socket.destroy(), resolve(true)));
            socket.on("error", () => resolve(false));
          }),
        { process: servers[i], timeoutMs: 20_000 },
      ),
    ),
  );
  return {
    info: {
      url: `nats://127.0.0.1:${port}`,
      publisher,
      nkeyUser,
      observer,
      operator: { url: `nats://127.0.0.1:${operatorPort}`, creds: trust.creds },
      version: VERSION,
    },
    stop: async () => void (await Promise.all(servers.map((server) => server.stop()))),
  };
}

/**
 * NATS decentralised authentication, made here as `nsc` would: an operator, an account it signs and a
 * user the account signs (JWTs: ed25519-nkey signatures over base64url header and claims), with the
 * user's creds file (its JWT and NKey seed) as a Provider secret's `creds` holds it.
 */
function operatorMode(): { operatorJwt: string; account: string; accountJwt: string; creds: string } {
  const operator = nkeys.createOperator();
  const account = nkeys.createAccount();
  const user = nkeys.createUser();
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const jwt = (issuer: typeof operator, subject: string, nats: Record<string, unknown>) => {
    const unsigned = `${encode({ typ: "JWT", alg: "ed25519-nkey" })}.${encode({
      jti: "",
      iat: Math.floor(Date.now() / 1000),
      iss: issuer.getPublicKey(),
      sub: subject,
      name: subject.slice(0, 8),
      nats: { ...nats, version: 2 },
    })}`;
    return `${unsigned}.${Buffer.from(issuer.sign(new TextEncoder().encode(unsigned))).toString("base64url")}`;
  };
  const unlimited = { subs: -1, data: -1, payload: -1 };
  const limits = { ...unlimited, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 };
  const userJwt = jwt(account, user.getPublicKey(), {
    type: "user",
    pub: { allow: ["flux.>"] },
    sub: {},
    ...unlimited,
  });
  const seed = new TextDecoder().decode(user.getSeed());
  return {
    operatorJwt: jwt(operator, operator.getPublicKey(), { type: "operator" }),
    account: account.getPublicKey(),
    accountJwt: jwt(operator, account.getPublicKey(), { type: "account", limits }),
    creds: `-----BEGIN NATS USER JWT-----\n${userJwt}\n------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\n${seed}\n------END USER NKEY SEED------\n`,
  };
}
