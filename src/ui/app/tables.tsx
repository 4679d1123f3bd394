import type { ClusterRow, SourceRow } from "../api/types.js";
import { objectPath, useLive } from "./data.js";
import { bytes, Linked, Loading, onTableKeys, Ready, Time } from "./parts.js";
import { Link } from "./router.js";

/** Every source: what it fetched, when, and how big the artifact is. */
export function Sources() {
  const { data, error } = useLive<SourceRow[]>("sources");
  return (
    <section aria-labelledby="sources-title">
      <h1 id="sources-title">Sources</h1>
      {!data ? (
        <Loading error={error} />
      ) : (
        <table onKeyDown={onTableKeys}>
          <thead>
            <tr>
              <th scope="col">Source</th>
              <th scope="col">Kind</th>
              <th scope="col">Ready</th>
              <th scope="col">Revision</th>
              <th scope="col">Last fetch</th>
              <th scope="col">Size</th>
              <th scope="col">URL</th>
              <th scope="col">Message</th>
            </tr>
          </thead>
          <tbody>
            {data.map((s) => (
              <tr class={s.ready === "False" ? "failing" : undefined}>
                <th scope="row">
                  <Link class="row-link" href={objectPath(s.kind, s.namespace, s.name)}>
                    {s.namespace}/{s.name}
                  </Link>
                </th>
                <td>{s.kind}</td>
                <td>
                  <Ready state={s.ready} suspended={s.suspended} />
                </td>
                <td class="revision">{s.revision || "-"}</td>
                <td>
                  <Time time={s.lastFetch} />
                </td>
                <td>{bytes(s.size)}</td>
                <td class="url">{s.url}</td>
                <td class="message">
                  <Linked text={s.message} at={s} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

/** Registered clusters: how each is reached, when an agent last called, and how its Kustomizations fare. */
export function Clusters() {
  const { data, error } = useLive<ClusterRow[]>("clusters");
  return (
    <section aria-labelledby="clusters-title">
      <h1 id="clusters-title">Clusters</h1>
      {!data ? (
        <Loading error={error} />
      ) : data.length === 0 ? (
        <p>
          No clusters registered: everything targets the control plane's own cluster (
          <code>sluice create cluster NAME --mode agent|direct</code> registers one).
        </p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">Cluster</th>
              <th scope="col">Mode</th>
              <th scope="col">Last contact</th>
              <th scope="col">Agent revision</th>
              <th scope="col">Bundles</th>
              <th scope="col">Kustomizations</th>
              <th scope="col">Ready</th>
              <th scope="col">Failing</th>
              <th scope="col">Last applied</th>
            </tr>
          </thead>
          <tbody>
            {data.map((c) => (
              <tr class={c.failing > 0 ? "failing" : undefined}>
                <th scope="row">
                  <Link href={`/?q=${encodeURIComponent(c.name)}&kind=Kustomization`}>{c.name}</Link>
                </th>
                <td>{c.mode}</td>
                <td>
                  <Time time={c.lastContact} />
                </td>
                <td class="revision">{c.revision ?? "-"}</td>
                <td>{c.bundles ?? "-"}</td>
                <td>{c.objects}</td>
                <td>{c.ready}</td>
                <td>{c.failing}</td>
                <td class="revision">{c.lastApplied ?? "-"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
