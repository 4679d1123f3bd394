import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { testHelm } from "./charts.js";

// Stand-ins for the charts Flux's reference fleet (flux2-kustomize-helm-example) pulls from quay.io and docker.io,
// which the test bed never reaches: charts of the same names, at versions the fleet's semver ranges pick, holding
// what the rest of the fleet relies on — a controller Deployment each, cert-manager's ClusterIssuer CRD (templated
// behind `crds.enabled`, as cert-manager's chart does) and the Gateway API CRDs (in `crds/`, as Envoy Gateway's chart
// ships them). Written and pushed at setup with `helm push`, as chart authors publish to OCI; a few KiB each.

/** Where a stand-in lives in the registry, and what its chart is. */
export interface FleetChart {
  /** The repository path under the registry host, as the fleet's OCIRepository URL has it after its host. */
  repository: string;
  name: string;
  version: string;
}

export const CERT_MANAGER: FleetChart = { repository: "jetstack/charts", name: "cert-manager", version: "v1.19.1" };
export const ENVOY_GATEWAY: FleetChart = { repository: "envoyproxy", name: "gateway-helm", version: "v1.8.0" };

/**
 * A CustomResourceDefinition with an open schema: only its names matter to the fleet. A `*.k8s.io` group is
 * protected: the API server wants the approval annotation Gateway API's own CRDs carry.
 */
function crd(group: string, kind: string, plural: string, scope: "Cluster" | "Namespaced"): string {
  return [
    "apiVersion: apiextensions.k8s.io/v1",
    "kind: CustomResourceDefinition",
    "metadata:",
    `  name: ${plural}.${group}`,
    ...(group.endsWith(".k8s.io")
      ? ["  annotations:", '    api-approved.kubernetes.io: "https://github.com/kubernetes-sigs/gateway-api/pull/3328"']
      : []),
    "spec:",
    `  group: ${group}`,
    `  names: { kind: ${kind}, listKind: ${kind}List, plural: ${plural}, singular: ${kind.toLowerCase()} }`,
    `  scope: ${scope}`,
    "  versions:",
    "    - name: v1",
    "      served: true",
    "      storage: true",
    "      schema:",
    "        openAPIV3Schema: { type: object, x-kubernetes-preserve-unknown-fields: true }",
    "",
  ].join("\n");
}

/** A one-replica Deployment named `name` in the release's namespace. */
function deployment(name: string, image: string): string {
  return [
    "apiVersion: apps/v1",
    "kind: Deployment",
    "metadata:",
    `  name: ${name}`,
    "  namespace: {{ .Release.Namespace }}",
    "spec:",
    "  replicas: 1",
    `  selector: { matchLabels: { app: ${name} } }`,
    "  template:",
    `    metadata: { labels: { app: ${name} } }`,
    "    spec:",
    `      containers: [{ name: ${name}, image: "${image}:{{ .Chart.AppVersion }}" }]`,
    "",
  ].join("\n");
}

async function writeChart(chart: FleetChart, files: Record<string, string>): Promise<string> {
  const dir = join(await mkdtemp(join(tmpdir(), "sluice-fleet-chart-")), chart.name);
  const all = {
    "Chart.yaml": `apiVersion: v2\nname: ${chart.name}\nversion: ${chart.version}\nappVersion: ${chart.version}\ndescription: test bed stand-in\n`,
    ...files,
  };
  for (const [path, text] of Object.entries(all)) {
    await mkdir(join(dir, path, ".."), { recursive: true });
    await writeFile(join(dir, path), text);
  }
  return dir;
}

/** cert-manager's stand-in: `crds.enabled` templates the ClusterIssuer CRD, `config` lands in a ConfigMap. */
function certManagerChart(): Promise<string> {
  return writeChart(CERT_MANAGER, {
    "values.yaml": "crds:\n  enabled: false\n  keep: true\nconfig: {}\n",
    "templates/crds.yaml": `{{- if .Values.crds.enabled }}\n${crd("cert-manager.io", "ClusterIssuer", "clusterissuers", "Cluster")}{{- end }}\n`,
    "templates/config.yaml": [
      "apiVersion: v1",
      "kind: ConfigMap",
      "metadata:",
      "  name: cert-manager",
      "  namespace: {{ .Release.Namespace }}",
      "data:",
      "  config.json: {{ .Values.config | toJson | quote }}",
      "",
    ].join("\n"),
    "templates/deployment.yaml": deployment("cert-manager", "quay.io/jetstack/cert-manager-controller"),
  });
}

/** Envoy Gateway's stand-in: the Gateway API CRDs in `crds/`, and its controller. */
function envoyGatewayChart(): Promise<string> {
  const group = "gateway.networking.k8s.io";
  return writeChart(ENVOY_GATEWAY, {
    "values.yaml": "{}\n",
    "crds/gatewayapi-crds.yaml": [
      crd(group, "GatewayClass", "gatewayclasses", "Cluster"),
      crd(group, "Gateway", "gateways", "Namespaced"),
      crd(group, "HTTPRoute", "httproutes", "Namespaced"),
    ].join("---\n"),
    "templates/deployment.yaml": deployment("envoy-gateway", "docker.io/envoyproxy/gateway"),
  });
}

/** Packages both stand-ins and pushes them to the registry at `host` (plain HTTP). */
export async function pushFleetCharts(host: string): Promise<void> {
  const home = await mkdtemp(join(tmpdir(), "sluice-helm-home-"));
  for (const [chart, dir] of [
    [CERT_MANAGER, await certManagerChart()],
    [ENVOY_GATEWAY, await envoyGatewayChart()],
  ] as const) {
    await testHelm(["package", dir, "--destination", join(dir, "..")], home);
    const archive = join(dir, "..", `${chart.name}-${chart.version}.tgz`);
    await testHelm(["push", archive, `oci://${host}/${chart.repository}`, "--plain-http"], home);
  }
}
