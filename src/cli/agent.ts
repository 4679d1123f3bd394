import { KMSClient } from "@aws-sdk/client-kms";
import { keyIdFor, parseBundleKey } from "../bundle/bundle.js";
import { kmsPublicKey } from "../aws/kms.js";
import { clusterKey, clusterRegistration } from "../api/cluster.js";
import { parseObject } from "../api/parse.js";
import { parseDuration } from "../api/duration.js";
import { applyAll } from "../apply/apply.js";
import type { KubeObject } from "../apply/object.js";
import { openCluster } from "../cluster/cluster.js";
import { systemClock } from "../ports/clock.js";
import { version } from "../version.js";
import { cliAws, openStore, readKubeconfig, type GlobalOptions } from "./context.js";
import { exportYaml } from "./manifests.js";
import { say } from "./output.js";

export interface AgentInstallOptions {
  cluster: string;
  namespace: string;
  image: string;
  bucket: string;
  region: string;
  bundleKey: string;
  /** Base64 DER public key, for `kms:` bundle keys. */
  publicKey?: string;
  /** IRSA: the IAM role the agent's service account assumes (EKS Pod Identity needs no annotation). */
  roleArn?: string;
  pollInterval: string;
}

const NAME = "sluice-agent";

/**
 * The agent's manifests: its namespace, a service account (IRSA-annotated when a role is given),
 * cluster-wide RBAC (it applies whatever the fleet holds, as kustomize-controller does), its
 * settings and a single-replica Deployment (Recreate: two agents never apply at once).
 */
export function agentManifests(o: AgentInstallOptions): KubeObject[] {
  const labels = {
    "app.kubernetes.io/name": NAME,
    "app.kubernetes.io/instance": o.cluster,
    "app.kubernetes.io/version": version,
  };
  const meta = (name: string, namespaced = true) => ({ name, ...(namespaced && { namespace: o.namespace }), labels });
  return [
    { apiVersion: "v1", kind: "Namespace", metadata: { name: o.namespace, labels } },
    {
      apiVersion: "v1",
      kind: "ServiceAccount",
      metadata: { ...meta(NAME), ...(o.roleArn && { annotations: { "eks.amazonaws.com/role-arn": o.roleArn } }) },
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: meta(NAME, false),
      rules: [
        { apiGroups: ["*"], resources: ["*"], verbs: ["*"] },
        { nonResourceURLs: ["*"], verbs: ["*"] },
      ],
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: meta(NAME, false),
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: NAME },
      subjects: [{ kind: "ServiceAccount", name: NAME, namespace: o.namespace }],
    },
    {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: meta(NAME),
      data: {
        SLUICE_CLUSTER_NAME: o.cluster,
        SLUICE_BUCKET: o.bucket,
        AWS_REGION: o.region,
        SLUICE_BUNDLE_KEY: o.bundleKey,
        SLUICE_POLL_INTERVAL: o.pollInterval,
        ...(o.publicKey && { SLUICE_BUNDLE_PUBLIC_KEY: o.publicKey }),
      },
    },
    {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: meta(NAME),
      spec: {
        replicas: 1,
        strategy: { type: "Recreate" },
        selector: { matchLabels: { "app.kubernetes.io/name": NAME } },
        template: {
          metadata: { labels },
          spec: {
            serviceAccountName: NAME,
            securityContext: { runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: "RuntimeDefault" } },
            containers: [
              {
                name: "agent",
                image: o.image,
                envFrom: [{ configMapRef: { name: NAME } }],
                ports: [{ name: "health", containerPort: 8080 }],
                livenessProbe: {
                  httpGet: { path: "/healthz", port: "health" },
                  periodSeconds: 60,
                  failureThreshold: 3,
                },
                resources: { requests: { cpu: "50m", memory: "128Mi" }, limits: { memory: "512Mi" } },
                securityContext: {
                  allowPrivilegeEscalation: false,
                  readOnlyRootFilesystem: true,
                  capabilities: { drop: ["ALL"] },
                },
              },
            ],
          },
        },
      },
    },
  ];
}

/** The flags of `sluice agent install`, as commander hands them over. */
export interface InstallFlags {
  cluster: string;
  bundleKey: string;
  image: string;
  installNamespace: string;
  region?: string;
  roleArn?: string;
  pollInterval: string;
  export: boolean;
}

/** `sluice agent install` (defined in commands/agent.ts): prints the manifests (--export) or applies them. */
export async function install(flags: InstallFlags, options: GlobalOptions): Promise<void> {
  if (!options.awsBucket) throw new Error("--aws-bucket: the agent reads its bundles from the control plane's bucket");
  if (!flags.region) throw new Error("--region (or AWS_REGION) is not set");
  const bundleKey = parseBundleKey(flags.bundleKey, "--bundle-key");
  parseDuration(flags.pollInterval);
  const store = await openStore(options, flags.region);
  const registered = await store.get(clusterKey(flags.cluster));
  if (!registered || parseObject(clusterRegistration, registered.object).spec.mode !== "agent")
    throw new Error(
      `--cluster: '${flags.cluster}' is not registered in agent mode (sluice create cluster ${flags.cluster} --mode agent)`,
    );
  const keyId = keyIdFor(bundleKey, flags.cluster);
  const publicKey =
    bundleKey.kind === "kms"
      ? (await kmsPublicKey(new KMSClient(cliAws(flags.region)), keyId)).toString("base64")
      : undefined;
  if (bundleKey.kind === "hmac") {
    say.action(
      `HMAC bundle key ${keyId}: the agent holds it and could sign bundles for cluster ${flags.cluster}; kms:<key id> avoids that`,
    );
  }
  const manifests = agentManifests({
    cluster: flags.cluster,
    namespace: flags.installNamespace,
    image: flags.image,
    bucket: options.awsBucket,
    region: flags.region,
    bundleKey: flags.bundleKey,
    publicKey,
    roleArn: flags.roleArn,
    pollInterval: flags.pollInterval,
  });
  if (flags.export) {
    process.stdout.write(exportYaml(manifests));
    return;
  }
  say.action(`installing the agent for cluster ${flags.cluster} in ${flags.installNamespace} namespace`);
  const cluster = await openCluster(
    { kubeconfig: (await readKubeconfig(options)).content, context: options.context },
    systemClock,
  );
  for (const change of await applyAll(cluster, manifests, { owner: { name: NAME, namespace: flags.installNamespace } }))
    say.success(`${change.subject} ${change.action}`);
}
