import { gunzipSync, gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { goJson, releaseDigest } from "../../src/helm/observation.js";
import { decodeRecord, recordSecret, ReleaseRecordError, type ReleaseRecord } from "../../src/helm/release-record.js";
import { splitOutput } from "../../src/helm/render.js";

// Helm's release record codec and `helm template` output splitting: pure, with the hostile storage a
// tenant who may write Secrets could plant.

const record: ReleaseRecord = {
  name: "podinfo",
  info: { first_deployed: "2026-12-01T10:00:00Z", last_deployed: "2026-12-01T10:00:00Z", status: "deployed" },
  chart: {
    metadata: { name: "podinfo", version: "6.9.2" },
    lock: null,
    templates: [],
    values: {},
    schema: null,
    files: [],
  },
  config: { replicaCount: 3 },
  manifest: "---\n# Source: podinfo/templates/cm.yaml\nkind: ConfigMap\n",
  version: 1,
  namespace: "apps",
};

/** What a Secret's data holds: base64 of Helm's base64 of gzip of the JSON. */
const asSecretData = (json: Buffer, gzip = true) =>
  Buffer.from((gzip ? gzipSync(json) : json).toString("base64")).toString("base64");

describe("release records", () => {
  it("round-trips through Helm's Secret encoding with Helm's labels", () => {
    const secret = recordSecret(record, new Date("2026-12-01T10:00:00Z"));
    expect(secret.metadata).toEqual({
      name: "sh.helm.release.v1.podinfo.v1",
      labels: { createdAt: "1796119200", name: "podinfo", owner: "helm", status: "deployed", version: "1" },
    });
    expect(secret.type).toBe("helm.sh/release.v1");
    expect(decodeRecord(secret.metadata.name, secret.data.release)).toEqual(record);
  });

  it("encodes the record's JSON in Helm's key order as gzip members, the chart's compressed once and reused", () => {
    const gzipped = (r: ReleaseRecord) => Buffer.from(recordSecret(r, new Date()).data.release, "base64");
    const json = (r: ReleaseRecord) => gunzipSync(Buffer.from(gzipped(r).toString("latin1"), "base64")).toString();
    const { chart, name, ...rest } = record;
    // Keys given in another order, and values that look like the chart's slot, change nothing.
    const shuffled = { ...rest, chart, name, config: { chart: '"chart-"', replicaCount: 3 } } as ReleaseRecord;
    expect(json(shuffled)).toBe(JSON.stringify({ ...record, config: shuffled.config }));
    const members = (r: ReleaseRecord) => Buffer.from(gzipped(r).toString("latin1"), "base64");
    const next = members({ ...record, version: 2, info: { ...record.info, status: "superseded" } });
    // The chart's member (between the header's and the tail's) is the same bytes in every version.
    const chartMember = gzipSync(JSON.stringify(record.chart), { level: 9 });
    expect(next.includes(chartMember)).toBe(true);
    expect(members(record).includes(chartMember)).toBe(true);
  });

  it("reads an uncompressed record as Helm does (from before it compressed)", () => {
    const data = asSecretData(Buffer.from(JSON.stringify(record)), false);
    expect(decodeRecord("sh.helm.release.v1.podinfo.v1", data).name).toBe("podinfo");
  });

  it("refuses a planted record whose content is another release than its name says", () => {
    const data = asSecretData(Buffer.from(JSON.stringify({ ...record, name: "other" })));
    expect(() => decodeRecord("sh.helm.release.v1.podinfo.v1", data)).toThrow(/holds release other v1/);
  });

  it("refuses a gzip bomb without expanding it", () => {
    const bomb = Buffer.alloc(80 << 20, 0x20);
    expect(() => decodeRecord("sh.helm.release.v1.podinfo.v1", asSecretData(bomb))).toThrow(ReleaseRecordError);
  });

  it("refuses garbage and JSON that is no release", () => {
    expect(() => decodeRecord("s", asSecretData(Buffer.from("{not json")))).toThrow(
      /does not hold a JSON release record/,
    );
    expect(() => decodeRecord("s", asSecretData(Buffer.from("[1,2]")))).toThrow(/does not hold a release record/);
  });
});

describe("release digests", () => {
  it("escape as Go's encoding/json does", () => {
    expect(goJson({ a: "<b>&\u2028" })).toBe('{"a":"\\u003cb\\u003e\\u0026\\u2028"}');
  });

  it("ignore test hooks and the order of the values' keys", () => {
    const hook = { name: "t", kind: "Pod", path: "p", manifest: "m", events: ["test"], last_run: { phase: "" } };
    const withTest = { ...record, hooks: [hook], config: { b: 1, a: 2 } };
    expect(releaseDigest(withTest)).toBe(releaseDigest({ ...record, config: { a: 2, b: 1 } }));
    expect(releaseDigest({ ...record, version: 2 })).not.toBe(releaseDigest(record));
  });
});

describe("helm template output", () => {
  const output = [
    "---\n# Source: app/crds/crd.yaml\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: things.example.com\n",
    "---\n# Source: app/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n",
    '---\n# Source: app/templates/tests/t.yaml\napiVersion: v1\nkind: Pod\nmetadata:\n  name: t\n  annotations:\n    helm.sh/hook: test\n    helm.sh/hook-weight: "2"\n',
  ].join("");

  it("splits into the stored manifest, the CRDs and the hooks as Helm stores them", () => {
    const rendered = splitOutput(output);
    expect(rendered.crds.map((o) => o.metadata.name)).toEqual(["things.example.com"]);
    expect(rendered.objects.map((o) => o.metadata.name)).toEqual(["a", "b"]);
    expect(rendered.manifest).toBe(
      output
        .split("---\n# Source: app/templates/tests")[0]!
        .replace(/^---\n# Source: app\/crds[^]*?(?=---\n# Source: app\/templates)/, ""),
    );
    expect(rendered.hooks).toEqual([
      expect.objectContaining({
        name: "t",
        kind: "Pod",
        path: "app/templates/tests/t.yaml",
        events: ["test"],
        weight: 2,
      }),
    ]);
  });

  it("refuses a rendered document without kind or name, naming its template", () => {
    expect(() => splitOutput("---\n# Source: app/templates/x.yaml\nfoo: bar\n")).toThrow(/app\/templates\/x.yaml/);
  });
});
