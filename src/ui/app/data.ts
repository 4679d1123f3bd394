import { useEffect, useState } from "preact/hooks";

// The browser side of the API: JSON reads that refresh when the server says something changed (Server-Sent Events
// from `sluice run`; where the server has no stream, as behind a Lambda, a poll), and the actions.

export const API = "/api/v1";
const ACTION_HEADER = "x-sluice-action";
const POLL_MS = 5_000;

type Listener = () => void;
const listeners = new Set<Listener>();
let started = false;

/** One stream for the page; each open view refetches when it says the Store changed. */
function startLive(): void {
  if (started) return;
  started = true;
  let timer: ReturnType<typeof setTimeout> | undefined;
  // Bursts (a fleet reconciling) become one refetch per quarter second.
  const changed = () => {
    clearTimeout(timer);
    timer = setTimeout(() => listeners.forEach((l) => l()), 250);
  };
  const stream = new EventSource(`${API}/live`);
  stream.addEventListener("change", changed);
  stream.onerror = () => {
    if (stream.readyState !== EventSource.CLOSED) return; // the browser reconnects by itself
    setInterval(changed, POLL_MS);
  };
}

export class ApiError extends Error {}

async function read<T>(path: string): Promise<T> {
  const response = await fetch(`${API}/${path}`, { headers: { accept: "application/json" } });
  const body = (await response.json()) as T | { error: string };
  if (!response.ok) throw new ApiError((body as { error: string }).error ?? response.statusText);
  return body as T;
}

export interface Loaded<T> {
  data?: T;
  error?: string;
  /** When the data was last fetched (ms), for the "updated" note. */
  at?: number;
}

/** Fetches `path` now and again whenever the Store changes; keeps showing the last data while refetching. */
export function useLive<T>(path: string): Loaded<T> {
  const [state, setState] = useState<Loaded<T>>({});
  useEffect(() => {
    startLive();
    let current = true;
    const load = () =>
      read<T>(path).then(
        (data) => current && setState({ data, at: Date.now() }),
        (error: Error) => current && setState((s) => ({ ...s, error: error.message })),
      );
    setState({});
    void load();
    listeners.add(load);
    return () => {
      current = false;
      listeners.delete(load);
    };
  }, [path]);
  return state;
}

/** POSTs an action; same-origin only, with the header a cross-site form cannot send. */
export async function act(path: string): Promise<string> {
  const response = await fetch(`${API}/${path}`, { method: "POST", headers: { [ACTION_HEADER]: "1" } });
  const body = (await response.json()) as { message?: string; error?: string };
  if (!response.ok) throw new ApiError(body.error ?? response.statusText);
  return body.message ?? "done";
}

export const objectPath = (kind: string, namespace: string, name: string) =>
  `/objects/${[kind, namespace, name].map(encodeURIComponent).join("/")}`;
