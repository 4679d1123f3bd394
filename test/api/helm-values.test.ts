import { describe, expect, it } from "vitest";
import {
  composeValues,
  configDigest,
  mergeMaps,
  ValuesReferenceError,
  type ValuesSourceReader,
} from "../../src/api/helm-values.js";
import { encodeValues } from "../../src/api/values-digest.js";
import type { HelmRelease, ValuesReference } from "../../src/api/helmrelease.js";
import { parseInto, type ValuesMap } from "../../src/api/strvals.js";
import { formatGoFloat, readValues } from "../../src/api/values-yaml.js";

// Values composition as helm-controller v1.6.3 does it (fluxcd/pkg/chartutil v1.27.1), with the test
// vectors of chartutil's TestChartValuesFromReferences, TestReplacePathValue and
// TestReplacePathLiteralValue, and of Helm v4.2.2's strvals TestParseSet; then what a hostile
// ConfigMap or Secret would try.

const hr = (valuesFrom: ValuesReference[], values?: Record<string, unknown>) =>
  ({
    metadata: { name: "podinfo", namespace: "apps" },
    spec: { interval: "5m", valuesFrom, ...(values && { values }) },
  }) as Pick<HelmRelease, "metadata" | "spec">;

/** ConfigMaps and Secrets by name, each read counted. */
function cluster(objects: { ConfigMap?: Record<string, Record<string, string>>; Secret?: typeof objects.ConfigMap }) {
  const reads: string[] = [];
  const read: ValuesSourceReader = (kind, name) => {
    reads.push(`${kind}/${name}`);
    return objects[kind]?.[name];
  };
  return { read, reads };
}

/** Plain objects, for comparing with the maps without a prototype that composition builds. */
const plain = (v: unknown) => JSON.parse(JSON.stringify(v)) as unknown;
const compose = async (refs: ValuesReference[], objects: Parameters<typeof cluster>[0], values?: string) =>
  plain(
    await composeValues(hr(refs, values ? (plain(readValues(values)) as ValuesMap) : undefined), cluster(objects).read),
  );
const failure = async (promise: Promise<unknown>) => {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected a failure");
};

describe("HelmRelease values (fluxcd/pkg/chartutil v1.27.1, Helm v4.2.2 strvals)", () => {
  it("merges references in order, then spec.values (TestChartValuesFromReferences 'merges')", async () => {
    const got = await compose(
      [
        { kind: "ConfigMap", name: "values" },
        { kind: "Secret", name: "values" },
      ],
      {
        ConfigMap: { values: { "values.yaml": "flat: value\nnested:\n  configuration: value\n" } },
        Secret: { values: { "values.yaml": "flat:\n  nested: value\nnested: value\n" } },
      },
      "\nother: values\n",
    );
    expect(got).toEqual({ flat: { nested: "value" }, nested: "value", other: "values" });
  });

  it("sets a targetPath, and it takes precedence over all (the Go maps it changes are shared)", async () => {
    expect(
      await compose([{ kind: "Secret", name: "values", valuesKey: "single", targetPath: "merge.at.specific.path" }], {
        Secret: { values: { single: "value" } },
      }),
    ).toEqual({ merge: { at: { specific: { path: "value" } } } });
    const configuration = "flat: value\nnested:\n  configuration:\n  - one\n  - two\n  - three\n";
    expect(
      await compose(
        [
          { kind: "Secret", name: "values", valuesKey: "key", targetPath: "nested.configuration[0]" },
          { kind: "ConfigMap", name: "values" },
        ],
        { ConfigMap: { values: { "values.yaml": configuration } }, Secret: { values: { key: "value" } } },
        "\nnested:\n  configuration:\n  - list\n  - item\n  - option\n",
      ),
    ).toEqual({ flat: "value", nested: { configuration: ["value", "item", "option"] } });
    expect(
      await compose(
        [
          { kind: "ConfigMap", name: "values" },
          { kind: "Secret", name: "values", targetPath: "nested.configuration[1]" },
        ],
        {
          ConfigMap: {
            values: { "values.yaml": "flat: value\nnested:\n  configuration:\n  - list\n  - item\n  - option\n" },
          },
          Secret: { values: { "values.yaml": "foo" } },
        },
        "\nother: values\n",
      ),
    ).toEqual({ flat: "value", nested: { configuration: ["list", "foo", "option"] }, other: "values" });
  });

  it("skips optional references that are missing, fails required ones naming the field and the reference", async () => {
    const { read, reads } = cluster({ ConfigMap: { empty: {} } });
    const optional = hr([
      { kind: "Secret", name: "missing", optional: true },
      { kind: "ConfigMap", name: "empty", valuesKey: "absent", optional: true },
      { kind: "ConfigMap", name: "empty", valuesKey: "other", optional: true },
    ]);
    expect(plain(await composeValues(optional, read))).toEqual({});
    expect(reads).toEqual(["Secret/missing", "ConfigMap/empty"]); // each object once, as Flux caches them
    for (const [ref, reason] of [
      [
        { kind: "Secret", name: "missing" },
        "could not resolve Secret chart values reference 'apps/missing' with key 'values.yaml': resource not found",
      ],
      [
        { kind: "ConfigMap", name: "missing" },
        "could not resolve ConfigMap chart values reference 'apps/missing' with key 'values.yaml': resource not found",
      ],
      [
        { kind: "ConfigMap", name: "empty", valuesKey: "nonexisting" },
        "could not resolve ConfigMap chart values reference 'apps/empty' with key 'nonexisting': key not found",
      ],
    ] as const) {
      const error = await failure(composeValues(hr([{ kind: "Secret", name: "ok", optional: true }, ref]), read));
      expect(error).toBeInstanceOf(ValuesReferenceError);
      expect(error.message).toBe(`spec.valuesFrom[1]: ${reason}`);
    }
  });

  it("refuses a document that is not a map of values, without quoting it", async () => {
    for (const document of ["\nhunter2", "- hunter2\n- b", "hunter2: [unclosed", "a: &x hunter2\nb: *y"]) {
      const error = await failure(
        compose([{ kind: "Secret", name: "creds" }], { Secret: { creds: { "values.yaml": document } } }),
      );
      expect(error.message).toMatch(
        /^spec\.valuesFrom\[0\]: could not resolve Secret chart values reference 'apps\/creds'/,
      );
      expect(error.message).not.toContain("hunter2");
    }
  });

  it("sets values by Helm's --set rules, quoted ones as strings (TestReplacePathValue)", async () => {
    const at = async (targetPath: string, value: string, literal?: boolean) =>
      compose([{ kind: "Secret", name: "s", valuesKey: "v", targetPath, ...(literal && { literal }) }], {
        Secret: { s: { v: value } },
      });
    expect(await at("outer.inner", "value")).toEqual({ outer: { inner: "value" } });
    expect(await at("name", "{a,b,c}")).toEqual({ name: ["a", "b", "c"] });
    expect(await at("name", "value1\\,value2")).toEqual({ name: "value1,value2" });
    expect(await at("merge.at.specific.path", "true")).toEqual({ merge: { at: { specific: { path: true } } } });
    expect(await at("merge.at.specific.path", '"true"')).toEqual({ merge: { at: { specific: { path: "true" } } } });
    expect(await at("merge.at[2]", "value")).toEqual({ merge: { at: [null, null, "value"] } });
    expect(await at("nodeSelector.kubernetes\\.io/role", "master")).toEqual({
      nodeSelector: { "kubernetes.io/role": "master" },
    });
    // TestReplacePathLiteralValue: the value verbatim, the path still parsed.
    const hocon = 'kafka {\n  bootstrap = "b-1:9098,b-2:9098"\n  group = "svc.consumer"\n}\n';
    expect(await at("externalConfig.application\\.conf.content", hocon, true)).toEqual({
      externalConfig: { "application.conf": { content: hocon } },
    });
    for (const value of ["a,b,c", "{a,b,c}", "foo=bar=baz", "endpoints: [a, b, c]", '["a","b","c"]', "true", "x\\y"])
      expect(await at("name", value, true)).toEqual({ name: value });
    // flux2#2625: without literal, a broker list fails to merge, saying so without quoting it.
    const brokers = "kafka01.net:9092,kafka02.net:9092,kafka03.net:9092";
    const error = await failure(at("kafka.brokers", brokers));
    expect(error.message).toContain(
      "spec.valuesFrom[0]: could not resolve Secret chart values reference 'apps/s' with key 'v': a key has no value",
    );
    expect(error.message).not.toContain("kafka0");
    expect(await at("kafka.brokers", brokers, true)).toEqual({ kafka: { brokers } });
  });

  it("parses set lines as Helm's strvals does (TestParseSet)", () => {
    const parse = (line: string, asString = false) => {
      const dest = Object.create(null) as ValuesMap;
      parseInto(line, dest, asString);
      return plain(dest);
    };
    expect(parse("long_int_string=1234567890", true)).toEqual({ long_int_string: "1234567890" });
    expect(parse("name1=null,f=false,t=true")).toEqual({ name1: null, f: false, t: true });
    expect(parse("name1=value1,name2=value2,")).toEqual({ name1: "value1", name2: "value2" });
    expect(parse("name1=,name2=value2")).toEqual({ name1: "", name2: "value2" });
    expect(parse("leading_zeros=00009,zero_int=0,long_int=1234567890")).toEqual({
      leading_zeros: "00009",
      zero_int: 0,
      long_int: 1234567890,
    });
    expect(parse("name1=one\\=two,name2=three\\=four")).toEqual({ name1: "one=two", name2: "three=four" });
    expect(parse("outer.inner1=value,outer.middle.inner=value")).toEqual({
      outer: { inner1: "value", middle: { inner: "value" } },
    });
    expect(parse("name1.name2=")).toEqual({ name1: { name2: "" } });
    expect(parse("name1={1021,902}")).toEqual({ name1: [1021, 902] });
    expect(parse("list[0]=foo,nested[1][1]=1,objects[0].a=b")).toEqual({
      list: ["foo"],
      nested: [null, [null, 1]],
      objects: [{ a: "b" }],
    });
    // Go's int64 range decides what is a number.
    const dest = Object.create(null) as ValuesMap;
    parseInto("big=9223372036854775807,over=9223372036854775808", dest, false);
    expect(dest.big).toBe(2 ** 63); // the nearest number: values stay JSON
    expect(dest.over).toBe("9223372036854775808");
    for (const bad of [
      "name1=value1,,,,name2=value2,",
      "name1,name2=",
      "name1,name2=value2\\",
      "name1.name2",
      "name1.=name2",
      "name1={1021,902",
      "a[-1]=x",
      "a[65537]=x",
      "a=1,a[0]=x",
      "a=1,a.b=x",
      `${"a.".repeat(31)}b=1`,
    ])
      expect(() => parse(bad), bad).toThrow();
  });

  it("refuses what an attacker would try: alias bombs, deep nesting, huge lists, __proto__ keys", async () => {
    const bomb = [
      "a: &a [x, x, x, x, x, x, x, x, x, x]",
      ..."bcdefgh".split("").map((c, i) => `${c}: &${c} [${Array(10).fill(`*${"abcdefgh"[i]}`).join(", ")}]`),
    ].join("\n");
    expect(() => readValues(bomb)).toThrow(/expands to more than/);
    expect(() => readValues(`${"a: ".repeat(1)}${"[".repeat(2000)}${"]".repeat(2000)}`)).toThrow();
    expect(() => readValues("x".repeat(4 * 1024 * 1024))).toThrow(/larger than/);
    const lines = Array.from({ length: 40 }, (_, i) => `l${i}[65536]=1`).join(",");
    const error = await failure(
      compose([{ kind: "Secret", name: "s", targetPath: "a" }], { Secret: { s: { "values.yaml": `x,${lines}` } } }),
    );
    expect(error.message).toContain("too many list items");
    const deep = `x,b${"[0]".repeat(200_000)}=1`; // a comma in the value starts a key that nests past the stack
    const nested = await failure(
      compose([{ kind: "Secret", name: "s", targetPath: "a" }], { Secret: { s: { "values.yaml": deep } } }),
    );
    expect(nested.message).toContain("the set line nests too deeply");
    const polluted = await composeValues(
      hr([
        { kind: "Secret", name: "s", targetPath: "__proto__.polluted" },
        { kind: "Secret", name: "s", valuesKey: "y" },
      ]),
      cluster({ Secret: { s: { "values.yaml": "yes", y: "__proto__: {admin: true}\nconstructor: 1" } } }).read,
    );
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
    expect(Object.keys(polluted).sort()).toEqual(["__proto__", "constructor"]);
  });

  it("reads YAML as go-yaml v2 resolves it for Helm: YAML 1.1 booleans and numbers, merge keys, keys as text", () => {
    const values = readValues(
      [
        "bools: [y, Yes, on, OFF, n, true]",
        "numbers: [0x1F, 0o17, 0777, 1_000, 08, 1.5, .5, -1e3, 9007199254740993]",
        "strings: [2024-01-01, 1:20, '1', 0x1G, 1e999]",
        "nulls: [~, null]",
        "1: int key",
        "1.5: float key",
        "1e7: big float key",
        "9007199254740993: exact int key",
        "yes: bool key",
        "base: &base {a: 1, b: 2}",
        "merged: {a: 0, <<: *base, b: 3}",
        "tagged: [!!str 5, !!int '5', !custom x]",
      ].join("\n"),
    );
    expect(plain(values)).toEqual({
      bools: [true, true, true, false, false, true],
      numbers: [31, 15, 511, 1000, 8, 1.5, 0.5, -1000, 9007199254740992],
      strings: ["2024-01-01", "1:20", "1", "0x1G", "1e999"],
      nulls: [null, null],
      "1": "int key",
      "1.5": "float key",
      "1e+07": "big float key",
      "9007199254740993": "exact int key",
      true: "bool key",
      base: { a: 1, b: 2 },
      merged: { a: 1, b: 3 },
      tagged: ["5", 5, "x"],
    });
    expect(plain(readValues(""))).toEqual({});
    expect(plain(readValues("# only a comment\n"))).toEqual({});
    expect(plain(readValues("a: 1\n---\nb: 2\n"))).toEqual({ a: 1 });
    expect(() => readValues("a: .inf")).toThrow(/\.inf or \.nan/);
    expect(() => readValues("~: x")).toThrow(/null map key/);
    expect(plain(readValues("y: {~: 1}\non: 2"))).toEqual({ true: 2 }); // the map holding it was replaced
  });

  it("formats floats as Go's strconv 'g' with the shortest digits", () => {
    expect([1.5, 1e6, 1234567.5, 0.0001, 0.00001, 123456.5, -2.5e-7].map((f) => formatGoFloat(f, 64))).toEqual([
      "1.5",
      "1e+06",
      "1.2345675e+06",
      "0.0001",
      "1e-05",
      "123456.5",
      "-2.5e-07",
    ]);
    expect(formatGoFloat(0.1, 32)).toBe("0.1");
    expect(formatGoFloat(16777217, 32)).toBe("1.6777216e+07");
  });

  it("digests values as chartutil.DigestValues (TestDigestValues' vectors), whatever their order", () => {
    expect(configDigest({})).toBe("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const ports = [
      { protocol: "TCP", port: 8080 },
      { port: 9090, protocol: "UDP" },
    ];
    const digest = "sha256:fcdc2b0de1581a3633ada4afee3f918f6eaa5b5ab38c3fef03d5b48d3f85d9f6";
    expect(configDigest({ replicas: 3, image: { tag: "latest", repository: "nginx" }, ports })).toBe(digest);
    expect(configDigest({ ports, image: { repository: "nginx", tag: "latest" }, replicas: 3 })).toBe(digest);
    const test = {
      "632bd82398e71231a98004b6": "value4",
      "632bd817c559818a52307da2": "value3",
      "632bd80ddf416cf32fd50679": "value2",
      "632bd80235a05f4192aefade": "value1",
    };
    expect(configDigest({ test, replicas: 3 })).toBe(
      "sha256:8a980fcbeadd6f05818f07e8aec14070c22250ca3d96af1fcd5f93b3e85b4d70",
    );
  });

  it("encodes as go-yaml v2: quoting what reads back as another type, folding at 80 columns, escapes", () => {
    // What Flux's own chartutil.Encode (go-yaml v2.4.4) writes for the same values, recorded with a Go program.
    const long = "aaaa bbbb cccc dddd eeee ffff gggg hhhh iiii jjjj kkkk llll mmmm nnnn oooo pppp qqqq rrrr";
    expect(encodeValues({ b: "x", a: [1, { c: "yes" }], long })).toBe(
      'a:\n- 1\n- c: "yes"\nb: x\nlong: aaaa bbbb cccc dddd eeee ffff gggg hhhh iiii jjjj kkkk llll mmmm nnnn oooo pppp\n  qqqq rrrr\n',
    );
    // go-yaml's is_bom reads the first character wherever it is: after a leading BOM every character is escaped.
    expect(encodeValues({ a: "\ufeff-1e3\n+12", k: ["\ufeff`x", -1, { "@x%x": [], "'q'": null }], z: 1234567.5 })).toBe(
      `a: "\\uFEFF\\x2D\\x31\\x65\\x33\\n\\x2B\\x31\\x32"\nk:\n- "\\uFEFF\\x60\\x78"\n- -1\n- '''q''': null\n  '@x%x': []\nz: 1.2345675e+06\n`,
    );
    expect(encodeValues({ text: "line\nnext\n\n", empty: "", date: "2024-01-01", list: [[]] })).toBe(
      'date: "2024-01-01"\nempty: ""\nlist:\n- []\ntext: |+\n  line\n  next\n\n',
    );
  });

  it("merges maps as chartutil.MergeMaps: maps deep, anything else replaced", () => {
    const a = readValues("a: {x: 1, w: [1]}\nb: 1\nc: {d: 1}");
    const b = readValues("a: {w: [2], z: 3}\nb: {e: 1}\nc: 2");
    expect(plain(mergeMaps(a, b))).toEqual({ a: { x: 1, w: [2], z: 3 }, b: { e: 1 }, c: 2 });
    // go-yaml v2 reads the key y as true, as Flux does.
    expect(plain(readValues("y: 1"))).toEqual({ true: 1 });
  });
});
