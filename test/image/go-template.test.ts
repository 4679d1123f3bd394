import { describe, expect, it } from "vitest";
import { commitMessage } from "../../src/image/commit-message.js";
import { renderGoTemplate, TemplateError } from "../../src/image/go-template.js";
import type { FileChanges } from "../../src/image/update-files.js";

// Commit message templates as Flux's docs and the guides write them, rendered as Go's text/template
// renders them (expected outputs written from text/template's rules), and templates an attacker writes.

const change = (file: string, name: string, from: string, to: string, setter = "apps:podinfo"): FileChanges => ({
  file,
  objects: [
    {
      object: { apiVersion: "apps/v1", kind: "Deployment", name, namespace: "apps" },
      changes: [{ oldValue: from, newValue: to, setter, policy: { namespace: "apps", name: "podinfo" }, image: to }],
    },
  ],
});
const changes = [
  change("apps/frontend.yaml", "frontend", "ghcr.io/stefanprodan/podinfo:6.0.0", "ghcr.io/stefanprodan/podinfo:6.1.0"),
  change("apps/backend.yaml", "backend", "ghcr.io/stefanprodan/podinfo:6.0.0", "ghcr.io/stefanprodan/podinfo:6.1.0"),
];
const automation = { namespace: "flux-system", name: "podinfo" };

describe("commit message templates", () => {
  it("renders the issue's example, which uses the removed .Updated, as older Flux did: one line per image", () => {
    expect(commitMessage("{{range .Updated.Images}}{{println .}}{{end}}", automation, changes)).toBe(
      "ghcr.io/stefanprodan/podinfo:6.1.0\n",
    );
  });

  it("renders Flux's documented .Changed template: files and objects in sorted order, trimming as text/template does", () => {
    const template = `Automated image update

Automation name: {{ .AutomationObject }}

Files:
{{ range $filename, $_ := .Changed.FileChanges -}}
- {{ $filename }}
{{ end -}}

Objects:
{{ range $resource, $changes := .Changed.Objects -}}
- {{ $resource.Kind }} {{ $resource.Name }}
  Changes:
{{- range $_, $change := $changes }}
    - {{ $change.OldValue }} -> {{ $change.NewValue }}
{{ end -}}
{{ end -}}
`;
    expect(commitMessage(template, automation, changes)).toBe(`Automated image update

Automation name: flux-system/podinfo

Files:
- apps/backend.yaml
- apps/frontend.yaml
Objects:
- Deployment backend
  Changes:
    - ghcr.io/stefanprodan/podinfo:6.0.0 -> ghcr.io/stefanprodan/podinfo:6.1.0
- Deployment frontend
  Changes:
    - ghcr.io/stefanprodan/podinfo:6.0.0 -> ghcr.io/stefanprodan/podinfo:6.1.0
`);
  });

  it("renders the older docs' .Updated.Files/.Objects/.Images template, .Values, and the functions guides use", () => {
    const template = `{{ range $f, $_ := .Updated.Files }}{{ $f }} {{ end }}|{{ range $o, $_ := .Updated.Objects }}{{ $o.Name }} {{ end }}|{{ range .Updated.Images }}{{ .Identifier }} {{ .Repository }} {{ .Registry }}{{ end }}|{{ .Values.env }}|{{ len .Changed.Changes }}|{{ if eq .Values.env "prod" }}yes{{ else }}no{{ end }}|{{ printf "%s-%d" "x" 3 }}|{{ index .Values "env" | printf "%q" }}{{/* a comment */}}`;
    expect(commitMessage(template, automation, changes, { env: "prod" })).toBe(
      `apps/backend.yaml apps/frontend.yaml |backend frontend |6.1.0 stefanprodan/podinfo ghcr.io|prod|1|yes|x-3|"prod"`,
    );
  });

  it("uses Flux's default message without a template", () => {
    expect(commitMessage(undefined, automation, changes)).toBe("Update from image update automation");
  });

  it("refuses what it does not implement by name, and a template that does not parse", () => {
    expect(() => renderGoTemplate('{{define "x"}}y{{end}}', {})).toThrow("{{define}} is not supported");
    expect(() => renderGoTemplate("{{ .A | upper }}", { A: "a" })).toThrow('function "upper" is not supported');
    expect(() => renderGoTemplate("{{ if .A }}", { A: 1 })).toThrow("missing {{end}}");
    expect(() => renderGoTemplate("{{ .Missing }}", {})).toThrow("can't evaluate field Missing");
  });

  it("bounds what a hostile template can do: a gigabyte of output and combinatorial loops fail fast", () => {
    const many = { L: Array.from({ length: 1000 }, (_, i) => i) };
    const started = Date.now();
    expect(() => renderGoTemplate('{{ printf "%1000000000s" "x" }}', {})).toThrow(TemplateError);
    expect(() => renderGoTemplate("{{range .L}}{{range $.L}}{{range $.L}}x{{end}}{{end}}{{end}}", many)).toThrow(
      /more than \d+ steps|exceeds \d+ bytes/,
    );
    expect(() => renderGoTemplate("{{range .L}}{{range $.L}}0123456789{{end}}{{end}}", many)).toThrow(TemplateError);
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
