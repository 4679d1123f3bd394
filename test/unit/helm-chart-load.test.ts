import { mkdtemp, mkdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadChart } from "../../src/helm/chart.js";

// The chart record stored in Helm's release Secret holds values.yaml as Helm's loader reads it (YAML 1.1), so
// reuse-values and `helm get values --all` see the same values whether Helm or Sluice made the release.

describe("loadChart", () => {
  it("reads values.yaml as YAML 1.1, as Helm does: plain yes/on/off are booleans, quoted ones stay strings", async () => {
    const dir = await mkdtemp(join(tmpdir(), "sluice-chart-"));
    await mkdir(join(dir, "templates"));
    await writeFile(join(dir, "Chart.yaml"), "apiVersion: v2\nname: demo\nversion: 1.0.0\n");
    await writeFile(join(dir, "templates", "cm.yaml"), "kind: ConfigMap\n");
    await writeFile(
      join(dir, "values.yaml"),
      'enabled: yes\ntls: on\ndebug: off\nquoted: "yes"\nmode: 0644\nbase: &b {a: 1}\nmerged:\n  <<: *b\n  c: 2\n',
    );
    const chart = await loadChart(dir);
    expect(chart.values).toEqual({
      enabled: true,
      tls: true,
      debug: false,
      quoted: "yes",
      mode: 420,
      base: { a: 1 },
      merged: { a: 1, c: 2 },
    });
    expect(chart.templates.map((t) => t.name)).toEqual(["templates/cm.yaml"]);
  });
});
