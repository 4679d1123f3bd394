import { App, Stack, Validations } from "aws-cdk-lib";
import { Match, Template } from "aws-cdk-lib/assertions";
import { OpenIdConnectProvider } from "aws-cdk-lib/aws-iam";
import { AwsSolutionsChecks } from "cdk-nag";
import { describe, expect, it } from "vitest";
import { SluiceStack } from "./stack.js";

const app = new App();
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
const env = { account: "123456789012", region: "eu-west-1" };
const sopsKey = "arn:aws:kms:eu-west-1:123456789012:key/sops";
const oidc = new OpenIdConnectProvider(new Stack(app, "Oidc", { env }), "Provider", {
  url: "https://oidc.eks.eu-west-1.amazonaws.com/id/ABC",
  clientIds: ["sts.amazonaws.com"],
});
const stack = new SluiceStack(app, "SluiceAgents", {
  cluster: "",
  env,
  agentClusters: [
    { cluster: "edge-1", podIdentityCluster: "edge-1" },
    { cluster: "edge-2", oidcProvider: oidc, sopsKmsKeyArns: [sopsKey] },
  ],
});
const template = Template.fromStack(stack);

interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

/** The statements of the inline policy attached to the agent role of `cluster`. */
function agentStatements(cluster: string): Statement[] {
  const roles = template.findResources("AWS::IAM::Role", {
    Properties: { Description: `Sluice pull agent of cluster ${cluster}` },
  });
  const [roleId] = Object.keys(roles);
  const policies = Object.values(template.findResources("AWS::IAM::Policy")) as {
    Properties: { Roles: { Ref: string }[]; PolicyDocument: { Statement: Statement[] } };
  }[];
  return policies
    .filter((p) => p.Properties.Roles.some((r) => r.Ref === roleId))
    .flatMap((p) => p.Properties.PolicyDocument.Statement);
}

const actions = (s: Statement) => [s.Action].flat();
/** Object-key suffixes a resource grants, e.g. `/bundles/edge-1/*` (from Fn::Join of the bucket ARN). */
const keys = (s: Statement) =>
  [s.Resource].flat().map((r) => JSON.stringify(r).match(/"(\/[^"]*)"/)?.[1] ?? "(bucket or key)");

describe("CDK: pull-agent IAM (aws-cdk-lib, cdk-nag AwsSolutions)", () => {
  it("the agent role reads only its cluster's bundles and writes only its cluster's status", () => {
    const statements = agentStatements("edge-1");
    const reads = statements.filter((s) => actions(s).includes("s3:GetObject")).flatMap(keys);
    const writes = statements
      .filter((s) => actions(s).some((a) => a === "s3:PutObject" || a === "s3:DeleteObject"))
      .flatMap(keys);
    expect(reads.sort()).toEqual(["/bundles/edge-1/*", "/status/edge-1/*"]);
    expect(writes).toEqual(["/status/edge-1/*"]);
    expect(statements.flatMap(actions)).not.toContain("s3:DeleteObject");
    expect(statements.find((s) => actions(s).includes("s3:ListBucket"))?.Condition).toEqual({
      StringLike: { "s3:prefix": ["bundles/edge-1/*", "status/edge-1/*"] },
    });
    expect(statements.flatMap(actions).filter((a) => a.includes("*"))).toEqual([]);
    expect(statements.flatMap(actions)).not.toContain("kms:Sign");
    expect(JSON.stringify(statements)).not.toMatch(/edge-2|store\/|artifacts\//);
  });

  it("the agent role is assumable through EKS Pod Identity or IRSA, for the sluice-agent service account only", () => {
    template.hasResourceProperties("AWS::EKS::PodIdentityAssociation", {
      ClusterName: "edge-1",
      Namespace: "sluice-system",
      ServiceAccount: "sluice-agent",
    });
    const irsa = Object.values(
      template.findResources("AWS::IAM::Role", { Properties: { Description: "Sluice pull agent of cluster edge-2" } }),
    )[0] as { Properties: { AssumeRolePolicyDocument: { Statement: { Action: string; Condition?: unknown }[] } } };
    const web = irsa.Properties.AssumeRolePolicyDocument.Statement.find(
      (s) => s.Action === "sts:AssumeRoleWithWebIdentity",
    );
    // The condition keys name the issuer, known at deploy time: a CfnJson resource resolves them.
    expect(JSON.stringify(web?.Condition)).toMatch(/IrsaSubject/);
    expect(agentStatements("edge-2")).toContainEqual(
      expect.objectContaining({ Action: "kms:Decrypt", Resource: sopsKey }),
    );
    expect(JSON.stringify(template.findResources("Custom::AWSCDKCfnJson"))).toContain(
      ':sub\\":\\"system:serviceaccount:sluice-system:sluice-agent',
    );
  });

  it("the worker signs bundles with an ECC key it may only Sign with, and knows it from its environment", () => {
    template.hasResourceProperties("AWS::KMS::Key", { KeySpec: "ECC_NIST_P256", KeyUsage: "SIGN_VERIFY" });
    template.hasResourceProperties("AWS::Lambda::Function", {
      Layers: Match.anyValue(),
      Environment: { Variables: Match.objectLike({ SLUICE_BUNDLE_KEY: Match.anyValue(), SLUICE_CLUSTER: "" }) },
    });
    template.hasResourceProperties("AWS::IAM::Policy", {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Action: "kms:Sign" })]) },
    });
  });

  it("synthesises with every cdk-nag finding fixed or acknowledged", () => {
    expect(() => app.synth()).not.toThrow();
  }, 120_000);
});
