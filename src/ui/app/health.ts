import { useCallback, useEffect, useState } from "preact/hooks";
import type { InventoryHealth } from "../api/types.js";
import { API } from "./data.js";

// The inventory's live health: read from the cluster only when the page opens, when the object's state changes, or
// when asked again, never on every Store change as the page's own data is (each read costs a GET per object).

export interface HealthLoad {
  health?: InventoryHealth;
  error?: string;
  busy: boolean;
  again: () => void;
}

/** `path` is the object's API path; `when` changes (a new revision, a new Ready) read it again; `wanted` false: never. */
export function useHealth(path: string, when: string, wanted: boolean): HealthLoad {
  const [state, setState] = useState<Omit<HealthLoad, "again">>({ busy: false });
  const [asked, setAsked] = useState(0);
  useEffect(() => {
    if (!wanted) return;
    let current = true;
    setState((s) => ({ ...s, busy: true }));
    fetch(`${API}/${path}/health`, { headers: { accept: "application/json" } })
      .then(async (response) => {
        const body = (await response.json()) as InventoryHealth | { error: string };
        if (!response.ok) throw new Error("error" in body ? body.error : response.statusText);
        if (current) setState({ health: body as InventoryHealth, busy: false });
      })
      .catch((error: Error) => current && setState((s) => ({ ...s, error: error.message, busy: false })));
    return () => {
      current = false;
    };
  }, [path, when, wanted, asked]);
  const again = useCallback(() => setAsked((n) => n + 1), []);
  return { ...state, again };
}
