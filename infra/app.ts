import { App, Validations } from "aws-cdk-lib";
import { AwsSolutionsChecks } from "cdk-nag";
import { SluiceStack } from "./stack.js";

// `npx cdk deploy -c cluster=eks:<name>` (or `-c cluster=kubeconfig:<secret id>`); see README.
const app = new App();
const cluster = app.node.tryGetContext("cluster") as string | undefined;
if (!cluster) throw new Error("set the target cluster: npx cdk deploy -c cluster=eks:<cluster name> (or kubeconfig:<Secrets Manager secret id>)");
new SluiceStack(app, "Sluice", { cluster, env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION } });
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
