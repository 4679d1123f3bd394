import { render } from "preact";
import { useEffect } from "preact/hooks";
import { ObjectPage } from "./object.js";
import { Overview } from "./overview.js";
import { Link, useLocation } from "./router.js";
import { Clusters, Sources } from "./tables.js";

// The web UI: a page per route, read from the API; see README "Web UI".

const PAGES = [
  { href: "/", label: "Fleet" },
  { href: "/sources", label: "Sources" },
  { href: "/clusters", label: "Clusters" },
];

function App() {
  const { pathname } = useLocation();
  const [, first, kind, namespace, name] = pathname.split("/").map(decodeURIComponent);
  const page =
    first === "objects" && kind && namespace && name ? (
      <ObjectPage kind={kind} namespace={namespace} name={name} />
    ) : first === "sources" ? (
      <Sources />
    ) : first === "clusters" ? (
      <Clusters />
    ) : (
      <Overview />
    );
  useEffect(() => {
    document.title = `${first === "objects" ? `${kind} ${name}` : (PAGES.find((p) => p.href === pathname)?.label ?? "Fleet")} · Sluice`;
  }, [pathname]);
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header>
        <nav aria-label="Pages">
          <span class="brand">Sluice</span>
          {PAGES.map((p) => (
            <Link href={p.href} aria-current={p.href === pathname ? "page" : undefined}>
              {p.label}
            </Link>
          ))}
        </nav>
      </header>
      <main id="main" tabIndex={-1}>
        {page}
      </main>
    </>
  );
}

render(<App />, document.getElementById("app")!);
