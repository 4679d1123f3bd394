import { App, Validations } from "aws-cdk-lib";
import { AwsSolutionsChecks } from "cdk-nag";
import { SluiceStack } from "./stack.js";

// `npx cdk deploy -c cluster=eks:<name>` (or `-c cluster=kubeconfig:<secret id>`), and/or
// `-c agentClusters=edge-1,edge-2` for pull-agent clusters (EKS Pod Identity on the EKS cluster of
// the same name with `-c agentPodIdentity=true`); see README.
const app = new App();
const cluster = (app.node.tryGetContext("cluster") as string | undefined) ?? "";
const agentNames = ((app.node.tryGetContext("agentClusters") as string | undefined) ?? "").split(",").filter(Boolean);
if (!cluster && agentNames.length === 0)
  throw new Error(
    "set a target: -c cluster=eks:<cluster name> (or kubeconfig:<Secrets Manager secret id>), or -c agentClusters=<name>[,<name>…] for pull-agent clusters",
  );
const podIdentity = String(app.node.tryGetContext("agentPodIdentity")) === "true";
const agentClusters = agentNames.map((name) => ({ cluster: name, ...(podIdentity && { podIdentityCluster: name }) }));
const allowed = (name: string) => String(app.node.tryGetContext(name)) === "true";
const list = (name: string) => ((app.node.tryGetContext(name) as string | undefined) ?? "").split(",").filter(Boolean);
new SluiceStack(app, "Sluice", {
  cluster,
  agentClusters,
  allowRemoteBases: allowed("allowRemoteBases"),
  allowPrivateNetworks: allowed("allowPrivateNetworks"),
  allowCrossNamespaceReceivers: allowed("allowCrossNamespaceReceivers"),
  noCrossNamespaceRefs: allowed("noCrossNamespaceRefs"),
  insecureKubeConfigTLS: allowed("insecureKubeConfigTLS"),
  defaultServiceAccount: app.node.tryGetContext("defaultServiceAccount") as string | undefined,
  assumableRoleArns: list("assumableRoleArns"),
  ecrRepositoryArns: list("ecrRepositories"),
  notificationTopicArns: list("notificationTopics"),
  notificationBusArns: list("notificationBuses"),
  bucketSources: list("bucketSources").map((bucket) => ({
    bucketName: bucket,
    reconcile: list(`bucketSources:${bucket}`),
  })),
  ecrPushSources: list("ecrPushSources").map((repository) => ({
    repositoryName: repository,
    reconcile: list(`ecrPushSources:${repository}`),
  })),
  // The web UI (off by default): `-c ui=<Cognito sign-in domain prefix>`.
  ui: app.node.tryGetContext("ui") ? { loginDomainPrefix: String(app.node.tryGetContext("ui")) } : undefined,
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
});
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
