import { execFile } from "node:child_process";
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { App, Stack, Validations } from "aws-cdk-lib";
import { Match, Template } from "aws-cdk-lib/assertions";
import { Vpc } from "aws-cdk-lib/aws-ec2";
import { AwsSolutionsChecks } from "cdk-nag";
import { describe, expect, it } from "vitest";
import { SluiceStack } from "./stack.js";

const run = promisify(execFile);
// Synthesised offline (no AWS account, no Docker: functions are bundled with the local esbuild).
const app = new App();
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
const stack = new SluiceStack(app, "Sluice", { cluster: "eks:prod", env: { account: "123456789012", region: "eu-west-1" } });
const template = Template.fromStack(stack);

describe("CDK app (aws-cdk-lib, cdk-nag AwsSolutions)", () => {
  it("synthesises with every cdk-nag AwsSolutions finding fixed or acknowledged with a reason", () => {
    expect(() => app.synth()).not.toThrow();
  }, 120_000);

  it("`cdk synth` of the app works offline, cdk-nag included", async () => {
    const out = await mkdtemp(join(tmpdir(), "sluice-cdk-"));
    const { stderr } = await run(join("node_modules", ".bin", "cdk"), ["synth", "--quiet", "--no-notices", "-c", "cluster=eks:prod", "--output", out], {
      env: { ...process.env, CDK_DEFAULT_ACCOUNT: "123456789012", CDK_DEFAULT_REGION: "eu-west-1", AWS_EC2_METADATA_DISABLED: "true" },
      maxBuffer: 64 << 20,
    });
    expect(stderr).not.toMatch(/AwsSolutions-/);
    const synthesized = JSON.parse(await readFile(join(out, "Sluice.template.json"), "utf8")) as { Resources: Record<string, { Type: string }> };
    expect(Object.values(synthesized.Resources).filter((r) => r.Type === "AWS::Lambda::Function")).toHaveLength(3);
  }, 180_000);

  it("runs the worker on SQS FIFO with partial batch responses and a FIFO dead-letter queue", () => {
    const queues = template.findResources("AWS::SQS::Queue", { Properties: { FifoQueue: true, RedrivePolicy: Match.anyValue() } });
    const [jobs] = Object.values(queues) as { Properties: { VisibilityTimeout: number; RedrivePolicy: { maxReceiveCount: number } } }[];
    expect(jobs?.Properties.RedrivePolicy.maxReceiveCount).toBe(5);
    const worker = Object.values(template.findResources("AWS::Lambda::Function", { Properties: { Layers: Match.anyValue() } }))[0] as { Properties: { Timeout: number; Runtime: string } };
    expect(jobs!.Properties.VisibilityTimeout).toBeGreaterThanOrEqual(6 * worker.Properties.Timeout);
    expect(worker.Properties.Runtime).toBe("nodejs24.x");
    template.hasResourceProperties("AWS::Lambda::EventSourceMapping", { FunctionResponseTypes: ["ReportBatchItemFailures"], BatchSize: 10 });
    template.hasResourceProperties("AWS::CloudWatch::Alarm", { Threshold: 0, ComparisonOperator: "GreaterThanThreshold", MetricName: "ApproximateNumberOfMessagesVisible" });
  });

  it("keeps state in a private, SSL-only, versioned, KMS-encrypted bucket that expires old artifacts", () => {
    template.hasResourceProperties("AWS::S3::Bucket", {
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      VersioningConfiguration: { Status: "Enabled" },
      BucketEncryption: { ServerSideEncryptionConfiguration: [Match.objectLike({ ServerSideEncryptionByDefault: { SSEAlgorithm: "aws:kms", KMSMasterKeyID: Match.anyValue() } })] },
      LifecycleConfiguration: { Rules: Match.arrayWith([Match.objectLike({ Prefix: "artifacts/", ExpirationInDays: 30 })]) },
    });
    template.hasResourceProperties("AWS::S3::BucketPolicy", { PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: "Deny", Condition: { Bool: { "aws:SecureTransport": "false" } } })]) } });
  });

  it("ticks every minute, throttles the webhook API, and grants the worker EKS access to its cluster", () => {
    template.hasResourceProperties("AWS::Events::Rule", { ScheduleExpression: "rate(1 minute)" });
    template.hasResourceProperties("AWS::ApiGatewayV2::Stage", { DefaultRouteSettings: { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 } });
    template.hasResourceProperties("AWS::ApiGatewayV2::Route", { RouteKey: "POST /hook/{digest}" });
    template.hasResourceProperties("AWS::EKS::AccessEntry", { ClusterName: "prod", AccessPolicies: [Match.objectLike({ AccessScope: { Type: "cluster" } })] });
    template.hasResourceProperties("AWS::IAM::Policy", { PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Action: "eks:DescribeCluster", Resource: Match.anyValue() })]) } });
  });

  it("places the worker in a VPC when asked (private EKS endpoints)", () => {
    const vpcApp = new App();
    const env = { account: "123456789012", region: "eu-west-1" };
    const vpc = new Vpc(new Stack(vpcApp, "Network", { env }), "Vpc");
    const inVpc = Template.fromStack(new SluiceStack(vpcApp, "SluiceInVpc", { cluster: "kubeconfig:sluice/cluster", env, vpc }));
    inVpc.hasResourceProperties("AWS::Lambda::Function", { Layers: Match.anyValue(), VpcConfig: { SubnetIds: Match.anyValue(), SecurityGroupIds: Match.anyValue() } });
    expect(inVpc.findResources("AWS::EKS::AccessEntry")).toEqual({});
  });
});
