import { mkdir, mkdtemp, readFile, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { applySetters, settersOf, type PolicyImage } from "../../src/image/setters.js";
import { MAX_SETTER_FILE_BYTES, updateWithSetters } from "../../src/image/update-files.js";

// Flux's Setters strategy (image-automation-controller v1.2.4 internal/update) on real files: markers of
// each kind, only marked scalars changed, the rest of each file kept byte for byte.

const podinfo: PolicyImage = {
  namespace: "apps",
  name: "podinfo",
  latestRef: { name: "ghcr.io/stefanprodan/podinfo", tag: "6.1.0", digest: "sha256:" + "a".repeat(64) },
};
const setters = settersOf([podinfo]);

const deployment = `# The app, hand-written: comments, anchors, flow style and odd spacing must survive.
apiVersion: apps/v1
kind: Deployment
metadata:   {name: podinfo, namespace: apps}   # flow mapping
spec:
  template:
    spec:
      containers:
        - name: podinfo
          image: &main ghcr.io/stefanprodan/podinfo:6.0.0 # {"$imagepolicy": "apps:podinfo"}
        - name: copy
          image: *main
          env:
            - name: TAG
              value: '6.0.0'   # {"$imagepolicy": "apps:podinfo:tag"}
            - name: REPO
              value: "ghcr.io/old/podinfo" # {"$imagepolicy": "apps:podinfo:name"}
            - name: DIGEST
              value: none # {"$imagepolicy": "apps:podinfo:digest"}
            - name: FOREIGN
              value: keep-me # {"$imagepolicy": "other:podinfo:tag"}
            - name: NOT_A_MARKER
              value: keep-me-too # {"imagepolicy": "apps:podinfo"}
`;

describe("setters (Flux's $imagepolicy markers)", () => {
  it("changes only the marked scalars, in their own quoting, and keeps every other byte", () => {
    // Act
    const update = applySetters(deployment, setters)!;
    // Assess: the expected text is the input with exactly four values replaced
    const expected = deployment
      .replace(
        "&main ghcr.io/stefanprodan/podinfo:6.0.0",
        `&main ghcr.io/stefanprodan/podinfo:6.1.0@sha256:${"a".repeat(64)}`,
      )
      .replace("'6.0.0'", "'6.1.0'")
      .replace('"ghcr.io/old/podinfo"', '"ghcr.io/stefanprodan/podinfo"')
      .replace("value: none", `value: sha256:${"a".repeat(64)}`);
    expect(update.text).toBe(expected);
    expect(update.objects).toHaveLength(1);
    expect(update.objects[0]!.object).toEqual({
      apiVersion: "apps/v1",
      kind: "Deployment",
      name: "podinfo",
      namespace: "apps",
    });
    expect(update.objects[0]!.changes.map((c) => [c.setter, c.oldValue])).toEqual([
      ["apps:podinfo", "ghcr.io/stefanprodan/podinfo:6.0.0"],
      ["apps:podinfo:tag", "6.0.0"],
      ["apps:podinfo:name", "ghcr.io/old/podinfo"],
      ["apps:podinfo:digest", "none"],
    ]);
  });

  it("quotes a plain value that YAML would read as a number or boolean, as kyaml does; leaves current values alone", () => {
    const numeric = settersOf([{ ...podinfo, latestRef: { name: "x", tag: "1.10" } }]);
    const text = 'a: 1.9 # {"$imagepolicy": "apps:podinfo:tag"}\nb: "1.10" # {"$imagepolicy": "apps:podinfo:tag"}\n';
    expect(applySetters(text, numeric)?.text).toBe(
      'a: "1.10" # {"$imagepolicy": "apps:podinfo:tag"}\nb: "1.10" # {"$imagepolicy": "apps:podinfo:tag"}\n',
    );
    const yes = settersOf([{ ...podinfo, latestRef: { name: "x", tag: "yes" } }]);
    expect(applySetters('t: no # {"$imagepolicy": "apps:podinfo:tag"}\n', yes)?.text).toBe(
      't: "yes" # {"$imagepolicy": "apps:podinfo:tag"}\n',
    );
    expect(applySetters('t: "1.10" # {"$imagepolicy": "apps:podinfo:tag"}\n', numeric)).toBeUndefined();
  });

  it("leaves files without the quoted marker, and files that are not YAML, untouched (Flux skips them)", () => {
    expect(applySetters("image: podinfo:6.0.0 # $imagepolicy apps:podinfo\n", setters)).toBeUndefined();
    expect(applySetters('{{ .Values.image }} # {"$imagepolicy": "apps:podinfo"}\n: : [\n', setters)).toBeUndefined();
  });

  it("ignores a marker naming a policy of another namespace: only the automation's namespace's policies are setters", () => {
    const text = 'image: ghcr.io/x:1 # {"$imagepolicy": "kube-system:podinfo"}\n';
    expect(applySetters(text, setters)).toBeUndefined();
  });

  it("does not expand aliases to read an object's identity (a billion-laughs document costs nothing)", () => {
    const laughs = [
      'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
      ...Array.from(
        { length: 8 },
        (_, i) =>
          `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(9)
            .fill(`*${String.fromCharCode(97 + i)}`)
            .join(",")}]`,
      ),
      'image: x:1 # {"$imagepolicy": "apps:podinfo:tag"}',
    ].join("\n");
    const started = Date.now();
    expect(applySetters(laughs, setters)?.text).toContain("image: 6.1.0 #");
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});

describe("updateWithSetters over a checkout", () => {
  async function tree(files: Record<string, string>): Promise<string> {
    const root = await mkdtemp(join(tmpdir(), "sluice-setters-"));
    for (const [path, content] of Object.entries(files)) {
      await mkdir(join(root, path, ".."), { recursive: true });
      await writeFile(join(root, path), content);
    }
    return root;
  }

  it("updates marked YAML under update.path only, and reports the changed files sorted", async () => {
    // Prepare
    const marked = 'image: ghcr.io/stefanprodan/podinfo:6.0.0 # {"$imagepolicy": "apps:podinfo"}\n';
    const root = await tree({
      "clusters/dev/b.yaml": marked,
      "clusters/dev/a/Kustomization": 'images:\n- newTag: 6.0.0 # {"$imagepolicy": "apps:podinfo:tag"}\n',
      "clusters/dev/notes.txt": marked,
      "clusters/prod/app.yml": marked,
    });
    // Act
    const changes = await updateWithSetters(root, "./clusters/dev", [podinfo]);
    // Assess
    expect(changes.map((c) => c.file)).toEqual(["clusters/dev/a/Kustomization", "clusters/dev/b.yaml"]);
    expect(await readFile(join(root, "clusters/dev/notes.txt"), "utf8")).toBe(marked);
    expect(await readFile(join(root, "clusters/prod/app.yml"), "utf8")).toBe(marked);
    expect(await readFile(join(root, "clusters/dev/a/Kustomization"), "utf8")).toContain("newTag: 6.1.0 #");
  });

  it("refuses an update.path that leaves the checkout, directly or through a symbolic link, and never follows linked files", async () => {
    // Prepare: a file outside the checkout the attacker wants rewritten
    const outside = await tree({ "victim.yaml": 'image: x:1 # {"$imagepolicy": "apps:podinfo"}\n' });
    const root = await tree({ "apps/ok.yaml": "a: 1\n" });
    await symlink(outside, join(root, "escape"));
    await symlink(join(outside, "victim.yaml"), join(root, "apps/linked.yaml"));
    // Act / Assess
    await expect(updateWithSetters(root, "../", [podinfo])).rejects.toThrow("points outside the repository");
    await expect(updateWithSetters(root, "escape", [podinfo])).rejects.toThrow("points outside the repository");
    await expect(updateWithSetters(root, "/etc", [podinfo])).rejects.toThrow("must be relative");
    expect(await updateWithSetters(root, "apps", [podinfo])).toEqual([]);
    expect(await readFile(join(outside, "victim.yaml"), "utf8")).toContain("x:1");
  });

  it("leaves a marked file that is not UTF-8 byte for byte (it is not YAML Flux could read)", async () => {
    const root = await tree({});
    const latin1 = Buffer.concat([
      Buffer.from("# caf"),
      Buffer.from([0xe9]),
      Buffer.from('\nimage: x:1 # {"$imagepolicy": "apps:podinfo"}\n'),
    ]);
    await writeFile(join(root, "latin1.yaml"), latin1);
    expect(await updateWithSetters(root, undefined, [podinfo])).toEqual([]);
    expect((await readFile(join(root, "latin1.yaml"))).equals(latin1)).toBe(true);
  });

  it("refuses a marked file bigger than the bound instead of parsing it; an unmarked big file is skipped", async () => {
    const big = "# padding\n".repeat(MAX_SETTER_FILE_BYTES / 10 + 1);
    const root = await tree({
      "huge.yaml": `${big}image: x:1 # {"$imagepolicy": "apps:podinfo"}\n`,
      "big-unmarked.yaml": big,
    });
    await expect(updateWithSetters(root, undefined, [podinfo])).rejects.toThrow(
      /huge\.yaml holds an image policy marker but is \d+ bytes/,
    );
    await writeFile(join(root, "huge.yaml"), "a: 1\n");
    expect(await updateWithSetters(root, undefined, [podinfo])).toEqual([]);
  });
});
