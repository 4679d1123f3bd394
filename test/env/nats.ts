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
  const server = startProcess({ name: "nats", command: binary, args: ["-c", config], logDir: ctx.logDir });
  await waitUntilReady(
    "nats-server",
    () =>
      new Promise((resolve) => {
        const socket = connect(port, "127.0.0.1", () => (socket.destroy(), resolve(true)));
        socket.on("error", () => resolve(false));
      }),
    { process: server, timeoutMs: 20_000 },
  );
  return {
    info: { url: `nats://127.0.0.1:${port}`, publisher, nkeyUser, observer, version: VERSION },
    stop: () => server.stop(),
  };
}
