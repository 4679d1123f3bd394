import { createHash } from "node:crypto";
import { mkdtemp, readFile, readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { parse } from "yaml";
import { testHelm } from "../env/charts.js";
import { PODINFO } from "../env/podinfo.js";

const { helmRepo, registry } = inject("testbed");

/** `helm pull` into a fresh folder; returns the file it wrote, its Chart.yaml fields and its sha256. */
async function pull(args: string[]) {
  const into = await mkdtemp(join(tmpdir(), "podinfo-pull-"));
  await testHelm(["pull", ...args, "--destination", into]);
  const [file] = await readdir(into);
  const path = join(into, file!);
  const { stdout } = await testHelm(["show", "chart", path]);
  const chart = parse(stdout) as { name: string; version: string; appVersion: string };
  return {
    file,
    chart,
    sha256: createHash("sha256")
      .update(await readFile(path))
      .digest("hex"),
  };
}

describe("podinfo's real chart on the test bed", () => {
  it("is listed in both versions by the Helm repository's index, 6.9.3 keeping 6.9.2's appVersion", async () => {
    // Act
    const index = parse(await (await fetch(`${helmRepo.url}/index.yaml`)).text()) as {
      entries: Record<string, { version: string; appVersion: string; urls: string[] }[]>;
    };
    // Assess
    const versions = index.entries.podinfo!.map((e) => [e.version, e.appVersion]);
    expect(versions).toEqual(
      expect.arrayContaining([
        [PODINFO.version, PODINFO.version],
        [PODINFO.upgradeVersion, PODINFO.version], // only Chart.yaml's version differs
      ]),
    );
    expect(index.entries.podinfo!.find((e) => e.version === PODINFO.version)!.urls).toEqual([
      `${helmRepo.url}/podinfo-${PODINFO.version}.tgz`,
    ]);
  });

  it("is served by helm pull from the Helm repository and from the OCI registry, the same bits from both", async () => {
    // Act
    const fromRepo = await pull([PODINFO.chart, "--repo", helmRepo.url, "--version", PODINFO.version]);
    const fromOci = await pull([registry.podinfo, "--version", PODINFO.version, "--plain-http"]);
    const upgrade = await pull([registry.podinfo, "--version", PODINFO.upgradeVersion, "--plain-http"]);
    // Assess
    expect(fromRepo.file).toBe(`podinfo-${PODINFO.version}.tgz`);
    expect(fromRepo.chart).toMatchObject({ name: "podinfo", version: PODINFO.version, appVersion: PODINFO.version });
    expect(fromOci.chart).toEqual(fromRepo.chart);
    expect(fromOci.sha256).toBe(fromRepo.sha256);
    expect(upgrade.chart).toMatchObject({ name: "podinfo", version: PODINFO.upgradeVersion });
    expect(registry.podinfo).toBe(`oci://${registry.host}/charts/podinfo`);
  });

  it("has no version it was not given, in either store", async () => {
    // Act + Assess
    await expect(pull([PODINFO.chart, "--repo", helmRepo.url, "--version", "6.9.4"])).rejects.toThrow(
      /podinfo.*6\.9\.4.*not found|no chart version found/,
    );
    await expect(pull([registry.podinfo, "--version", "6.9.4", "--plain-http"])).rejects.toThrow(
      /podinfo:6\.9\.4: not found/,
    );
  });
});
