import { execFile } from "node:child_process";
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { promisify } from "node:util";
import { pino } from "pino";
import type { KubeObject } from "../../src/apply/object.js";
import { AlertingEvents } from "../../src/notify/alert-dispatch.js";
import type { Events, FluxEvent } from "../../src/notify/events.js";
import { systemClock } from "../../src/ports/clock.js";
import type { Secrets } from "../../src/secrets/secrets.js";
import type { NetworkPolicy } from "../../src/sources/network-guard.js";
import { FileStore } from "../../src/store/fs-store.js";
import { applyToStore } from "../../src/store/objects.js";

// Local alert delivery for the notify tests: a real Store on disk, AlertingEvents as `sluice run`
// builds them, Secrets given in-process; every event and log line it writes is kept to assert on.

export const NS = "apps";
export const REVISION = "main@sha1:0a1b2c3d4e5f60718293a4b5c6d7e8f901234567";

export interface Harness {
  /** Secret data by `<namespace>/<name>`. */
  secretData: Record<string, Record<string, string>>;
  /** Events Sluice recorded (NotificationDispatchFailed among them). */
  recorded: FluxEvent[];
  /** Log lines, as written. */
  logs: string[];
  register(...objects: KubeObject[]): Promise<void>;
  /** Emits the events and waits for their deliveries. */
  send(...events: FluxEvent[]): Promise<void>;
  failures(): string[];
}

export async function harness(network: NetworkPolicy = { allowPrivateNetworks: true }): Promise<Harness> {
  const store = new FileStore(await mkdtemp(join(tmpdir(), "sluice-notify-")));
  const secretData: Harness["secretData"] = {};
  const recorded: FluxEvent[] = [];
  const logs: string[] = [];
  const secrets: Secrets = {
    secret: async ({ namespace, name }) => secretData[`${namespace}/${name}`],
    configMap: async () => undefined,
  };
  const sink: Events = { emit: async (e) => void recorded.push(e) };
  const log = pino(
    { level: "debug" },
    new Writable({ write: (c: Buffer, _e, done) => void (logs.push(c.toString()), done()) }),
  );
  const events = new AlertingEvents(sink, {
    store,
    secrets,
    clock: systemClock,
    log,
    network,
    noCrossNamespaceRefs: false,
  });
  return {
    secretData,
    recorded,
    logs,
    register: async (...objects) => {
      for (const object of objects) await applyToStore(store, object);
    },
    send: async (...list) => {
      for (const e of list) await events.emit(e);
      await events.drain();
    },
    failures: () => recorded.filter((e) => e.reason === "NotificationDispatchFailed").map((e) => e.message),
  };
}

export function provider(name: string, spec: Record<string, unknown>): KubeObject {
  return {
    apiVersion: "notification.toolkit.fluxcd.io/v1beta3",
    kind: "Provider",
    metadata: { name, namespace: NS },
    spec,
  };
}

/** An Alert sending every Kustomization event to Provider `providerName`. */
export function alert(name: string, providerName: string, spec: Record<string, unknown> = {}): KubeObject {
  return {
    apiVersion: "notification.toolkit.fluxcd.io/v1beta3",
    kind: "Alert",
    metadata: { name, namespace: NS },
    spec: { providerRef: { name: providerName }, eventSources: [{ kind: "Kustomization", name: "*" }], ...spec },
  };
}

export function event(overrides: Partial<FluxEvent> = {}): FluxEvent {
  return {
    involvedObject: {
      apiVersion: "kustomize.toolkit.fluxcd.io/v1",
      kind: "Kustomization",
      namespace: NS,
      name: "podinfo",
    },
    severity: "error",
    reason: "HealthCheckFailed",
    message: "timeout waiting for: [Deployment/apps/podinfo]",
    metadata: { revision: REVISION },
    reportingController: "kustomize-controller",
    timestamp: "2026-12-01T10:00:00.123Z",
    ...overrides,
  };
}

/** A self-signed certificate and key (PEM) for 127.0.0.1, made with openssl. */
export async function selfSignedCertificate(): Promise<{ cert: string; key: string }> {
  const dir = await mkdtemp(join(tmpdir(), "sluice-notify-pki-"));
  await promisify(execFile)("openssl", [
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-days",
    "1",
    "-subj",
    "/CN=127.0.0.1",
    "-addext",
    "subjectAltName=IP:127.0.0.1",
    "-keyout",
    join(dir, "key.pem"),
    "-out",
    join(dir, "cert.pem"),
  ]);
  return { cert: await readFile(join(dir, "cert.pem"), "utf8"), key: await readFile(join(dir, "key.pem"), "utf8") };
}
