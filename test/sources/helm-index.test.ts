import { describe, expect, it } from "vitest";
import { HelmIndexError, indexUrl, loadHelmIndex } from "../../src/sources/helm-index.js";

// Loading an index as Helm's strict loader does (pure logic: no server needed).

const load = (text: string) => loadHelmIndex(Buffer.from(text));

describe("loadHelmIndex", () => {
  it("sorts each chart's versions newest first, as Masterminds/semver reads them (v prefix, missing patch)", () => {
    const index = load(
      [
        "apiVersion: v1",
        "entries:",
        "  app:",
        ...["1.2", "v1.10.0", "1.9.0", "2.0.0-rc.1", "1.10.0-alpha", "2.0.0"].map(
          (version) => `    - {name: app, version: "${version}", urls: [app.tgz]}`,
        ),
      ].join("\n"),
    );
    expect(index.entries.app!.map((v) => v.version)).toEqual([
      "2.0.0",
      "2.0.0-rc.1",
      "v1.10.0",
      "1.10.0-alpha",
      "1.9.0",
      "1.2",
    ]);
  });

  it("drops what Helm drops: null versions, versions without a name or a valid version, of an unknown type", () => {
    const index = load(
      [
        "apiVersion: v1",
        "entries:",
        "  app:",
        "    - null",
        "    - {version: 1.0.0}",
        "    - {name: app, version: not-a-version}",
        "    - {name: ../app, version: 1.0.0}",
        "    - {name: app, version: 1.0.0, type: plugin}",
        "    - {name: app, version: 1.1.0, type: library}",
      ].join("\n"),
    );
    expect(index.entries.app).toEqual([{ name: "app", version: "1.1.0", type: "library", apiVersion: "v1" }]);
  });

  it("reads JSON as JSON, as Helm does when the bytes are valid JSON", () => {
    const index = load(JSON.stringify({ apiVersion: "v1", entries: { app: [{ name: "app", version: "1.0.0" }] } }));
    expect(index.entries.app).toHaveLength(1);
  });

  it("refuses a second YAML document and an empty index with IndexationFailed", () => {
    for (const text of ["apiVersion: v1\n---\napiVersion: v1\n", ""]) {
      const error = (() => {
        try {
          load(text);
        } catch (e) {
          return e;
        }
      })();
      expect(error).toBeInstanceOf(HelmIndexError);
      expect((error as HelmIndexError).reason).toBe("IndexationFailed");
    }
  });
});

describe("indexUrl", () => {
  it("appends index.yaml to the base URL with one slash, keeping a query", () => {
    expect(indexUrl("https://charts.example/stable")).toBe("https://charts.example/stable/index.yaml");
    expect(indexUrl("https://charts.example/stable///")).toBe("https://charts.example/stable/index.yaml");
    expect(indexUrl("https://charts.example")).toBe("https://charts.example/index.yaml");
    expect(indexUrl("https://charts.example/s?token=x")).toBe("https://charts.example/s/index.yaml?token=x");
  });
});
