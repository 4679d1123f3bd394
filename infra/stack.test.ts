import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { App, Stack, Validations } from "aws-cdk-lib";
import { Match, Template } from "aws-cdk-lib/assertions";
import { Vpc } from "aws-cdk-lib/aws-ec2";
import type { CfnRole } from "aws-cdk-lib/aws-iam";
import type { CfnFunction, Function as LambdaFn } from "aws-cdk-lib/aws-lambda";
import { AwsSolutionsChecks } from "cdk-nag";
import { describe, expect, it } from "vitest";
import { defaultRenderLimits, parseRenderLimits } from "../src/render/limits.js";
import { SluiceStack, type SluiceStackProps } from "./stack.js";

const run = promisify(execFile);
// Synthesised offline (no AWS account, no Docker: functions are bundled with the local esbuild).
const app = new App();
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
const stack = new SluiceStack(app, "Sluice", {
  cluster: "eks:prod",
  env: { account: "123456789012", region: "eu-west-1" },
});
const template = Template.fromStack(stack);

describe("CDK app (aws-cdk-lib, cdk-nag AwsSolutions)", () => {
  it("synthesises with every cdk-nag AwsSolutions finding fixed or acknowledged with a reason", () => {
    expect(() => app.synth()).not.toThrow();
  }, 120_000);

  it("synthesises an environment-agnostic stack (no account or region) with cdk-nag's findings acknowledged", () => {
    const agnostic = new App({ context: { "aws:cdk:bundling-stacks": [] } });
    Validations.of(agnostic).addPlugins(new AwsSolutionsChecks(agnostic));
    new SluiceStack(agnostic, "Sluice", { cluster: "eks:prod" });
    expect(() => agnostic.synth()).not.toThrow();
  }, 120_000);

  it("`cdk synth` of the app works offline, cdk-nag included", async () => {
    const out = await mkdtemp(join(tmpdir(), "sluice-cdk-"));
    const { stderr } = await run(
      join("node_modules", ".bin", "cdk"),
      ["synth", "--quiet", "--no-notices", "-c", "cluster=eks:prod", "--output", out],
      {
        env: {
          ...process.env,
          CDK_DEFAULT_ACCOUNT: "123456789012",
          CDK_DEFAULT_REGION: "eu-west-1",
          AWS_EC2_METADATA_DISABLED: "true",
        },
        maxBuffer: 64 << 20,
      },
    );
    expect(stderr).not.toMatch(/AwsSolutions-/);
    const synthesized = JSON.parse(await readFile(join(out, "Sluice.template.json"), "utf8")) as {
      Resources: Record<string, { Type: string }>;
    };
    expect(Object.values(synthesized.Resources).filter((r) => r.Type === "AWS::Lambda::Function")).toHaveLength(4);
  }, 300_000); // it builds every function, AWS SDK included, as deployed

  it("deploys each function as `npm run build` code-splits it (what bench/coldstart measures), its AWS SDK bundled", async () => {
    const functions = template.findResources("AWS::Lambda::Function", { Properties: { Handler: "index.handler" } });
    expect(Object.keys(functions)).toHaveLength(4);
    const worker = Object.values(
      template.findResources("AWS::Lambda::Function", { Properties: { Layers: Match.anyValue() } }),
    )[0] as { Properties: { Code: { S3Key: string } } };
    const asset = join(app.outdir, `asset.${worker.Properties.Code.S3Key.replace(/\.zip$/, "")}`);
    expect(await readdir(asset)).toEqual(expect.arrayContaining(["index.mjs", "chunks"]));
    const chunks = await readdir(join(asset, "chunks"));
    expect(chunks.some((chunk) => chunk.startsWith("kustomization-"))).toBe(true);
    expect(chunks.some((chunk) => chunk.startsWith("helmrelease-"))).toBe(true);
    // Nothing left for the runtime to provide: no import of @aws-sdk/* remains.
    const code = await Promise.all(
      ["index.mjs", ...chunks.filter((chunk) => chunk.endsWith(".mjs")).map((chunk) => `chunks/${chunk}`)].map((file) =>
        readFile(join(asset, file), "utf8"),
      ),
    );
    expect(code.filter((text) => /from\s*"@aws-sdk\//.test(text))).toEqual([]);
  });

  it("runs the worker on SQS FIFO with partial batch responses and a FIFO dead-letter queue", () => {
    const queues = template.findResources("AWS::SQS::Queue", {
      Properties: { FifoQueue: true, RedrivePolicy: Match.anyValue() },
    });
    const [jobs] = Object.values(queues) as {
      Properties: { VisibilityTimeout: number; RedrivePolicy: { maxReceiveCount: number } };
    }[];
    expect(jobs?.Properties.RedrivePolicy.maxReceiveCount).toBe(5);
    const worker = Object.values(
      template.findResources("AWS::Lambda::Function", { Properties: { Layers: Match.anyValue() } }),
    )[0] as { Properties: { Timeout: number; Runtime: string } };
    expect(jobs!.Properties.VisibilityTimeout).toBeGreaterThanOrEqual(6 * worker.Properties.Timeout);
    expect(worker.Properties.Runtime).toBe("nodejs24.x");
    template.hasResourceProperties("AWS::Lambda::EventSourceMapping", {
      FunctionResponseTypes: ["ReportBatchItemFailures"],
      BatchSize: 10,
    });
    template.hasResourceProperties("AWS::CloudWatch::Alarm", {
      Threshold: 0,
      ComparisonOperator: "GreaterThanThreshold",
      MetricName: "ApproximateNumberOfMessagesVisible",
    });
  });

  it("keeps state in a private, SSL-only, versioned, KMS-encrypted bucket that expires old artifacts", () => {
    template.hasResourceProperties("AWS::S3::Bucket", {
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      VersioningConfiguration: { Status: "Enabled" },
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          Match.objectLike({
            ServerSideEncryptionByDefault: { SSEAlgorithm: "aws:kms", KMSMasterKeyID: Match.anyValue() },
          }),
        ],
      },
      LifecycleConfiguration: {
        Rules: Match.arrayWith([Match.objectLike({ Prefix: "artifacts/", ExpirationInDays: 30 })]),
      },
    });
    template.hasResourceProperties("AWS::S3::BucketPolicy", {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: "Deny", Condition: { Bool: { "aws:SecureTransport": "false" } } }),
        ]),
      },
    });
  });

  it("ticks every minute, throttles the webhook API, and grants the worker EKS access to its cluster", () => {
    template.hasResourceProperties("AWS::Events::Rule", { ScheduleExpression: "rate(1 minute)" });
    template.hasResourceProperties("AWS::ApiGatewayV2::Stage", {
      DefaultRouteSettings: { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 },
    });
    template.hasResourceProperties("AWS::ApiGatewayV2::Route", { RouteKey: "POST /hook/{digest}" });
    template.hasResourceProperties("AWS::EKS::AccessEntry", {
      ClusterName: "prod",
      AccessPolicies: [
        {
          PolicyArn: "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy",
          AccessScope: { Type: "cluster" },
        },
      ],
    });
    template.hasResourceProperties("AWS::IAM::Policy", {
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({ Action: "eks:DescribeCluster", Resource: Match.anyValue() })]),
      },
    });
  });

  it("places the worker in a VPC when asked (private EKS endpoints)", () => {
    const vpcApp = new App();
    const env = { account: "123456789012", region: "eu-west-1" };
    const vpc = new Vpc(new Stack(vpcApp, "Network", { env }), "Vpc");
    const inVpc = Template.fromStack(
      new SluiceStack(vpcApp, "SluiceInVpc", { cluster: "kubeconfig:sluice/cluster", env, vpc }),
    );
    inVpc.hasResourceProperties("AWS::Lambda::Function", {
      Layers: Match.anyValue(),
      VpcConfig: { SubnetIds: Match.anyValue(), SecurityGroupIds: Match.anyValue() },
    });
    expect(inVpc.findResources("AWS::EKS::AccessEntry")).toEqual({});
  });

  it("places the worker in a VPC but never the internet-facing webhook", () => {
    const vpcApp = new App({ context: { "aws:cdk:bundling-stacks": [] } });
    const env = { account: "123456789012", region: "eu-west-1" };
    const vpc = new Vpc(new Stack(vpcApp, "Network", { env }), "Vpc");
    const inVpc = new SluiceStack(vpcApp, "SluiceInVpc", { cluster: "kubeconfig:sluice/cluster", env, vpc });
    const webhook = Template.fromStack(inVpc).toJSON().Resources[
      inVpc.getLogicalId(functionNamed(inVpc, "Webhook").node.defaultChild as CfnFunction)
    ] as { Properties: Record<string, unknown> };
    expect(webhook.Properties.VpcConfig).toBeUndefined();
  });
});

/** Every IAM statement attached to a function's role. */
function statementsOf(
  stack: SluiceStack,
  name: string,
): { Action: string | string[]; Resource: unknown; Effect: string }[] {
  const role = stack.getLogicalId(functionNamed(stack, name).role!.node.defaultChild as CfnRole);
  const policies = Object.values(Template.fromStack(stack).findResources("AWS::IAM::Policy")) as {
    Properties: { Roles: { Ref: string }[]; PolicyDocument: { Statement: never[] } };
  }[];
  return policies
    .filter((p) => p.Properties.Roles.some((r) => r.Ref === role))
    .flatMap((p) => p.Properties.PolicyDocument.Statement);
}

function functionNamed(stack: Stack, name: string): LambdaFn {
  return stack.node.findChild(name) as LambdaFn;
}

const actionsOf = (statement: { Action: string | string[] }) => [statement.Action].flat();

describe("IAM: least privilege per function", () => {
  it("lets the webhook read receiver records, record delivery ids and enqueue: no Secrets Manager, no EKS, no Store", () => {
    const statements = statementsOf(stack, "Webhook");
    const actions = statements.flatMap(actionsOf);
    expect(actions.filter((a) => a.startsWith("secretsmanager:") || a.startsWith("eks:"))).toEqual([]);
    expect(actions).toContain("sqs:SendMessage");
    // Every S3 permission is scoped to receivers/ (read) or deliveries/ (write); nothing names store/.
    const s3 = statements.filter((s) => actionsOf(s).some((a) => a.startsWith("s3:")));
    expect(JSON.stringify(s3)).not.toContain("store/");
    const writes = s3.filter((s) =>
      actionsOf(s).some((a) => a.startsWith("s3:PutObject") || a.startsWith("s3:DeleteObject")),
    );
    expect(writes.length).toBeGreaterThan(0);
    for (const write of writes) expect(JSON.stringify(write.Resource)).toMatch(/^[^]*\/deliveries\/\*"[^]*$/);
    for (const write of writes) expect(JSON.stringify(write.Resource)).not.toContain("receivers/");
    const reads = s3.filter((s) => actionsOf(s).some((a) => a.startsWith("s3:GetObject")));
    expect(reads.map((s) => JSON.stringify(s.Resource))).toEqual([expect.stringContaining("/receivers/*")]);
  });

  it("lets the worker assume only the roles listed for cross-account EKS clusters", () => {
    const role = "arn:aws:iam::111111111111:role/sluice-target";
    const crossAccount = new SluiceStack(new App({ context: { "aws:cdk:bundling-stacks": [] } }), "Sluice", {
      cluster: "eks:prod",
      env: { account: "123456789012", region: "eu-west-1" },
      assumableRoleArns: [role],
    });
    const assume = (name: string) =>
      statementsOf(crossAccount, name).filter((s) => actionsOf(s).includes("sts:AssumeRole"));
    expect(assume("Worker").map((s) => s.Resource)).toEqual([role]);
    expect([...assume("Webhook"), ...assume("Tick")]).toEqual([]);
    expect(statementsOf(stack, "Worker").flatMap(actionsOf)).not.toContain("sts:AssumeRole");
  });

  it("lets the worker get ECR tokens and pull only from the ECR repositories listed, and only when some are", () => {
    const repository = "arn:aws:ecr:eu-west-1:123456789012:repository/fleet/manifests";
    const pulling = new SluiceStack(new App({ context: { "aws:cdk:bundling-stacks": [] } }), "Sluice", {
      cluster: "eks:prod",
      env: { account: "123456789012", region: "eu-west-1" },
      ecrRepositoryArns: [repository],
    });
    const ecr = (of: SluiceStack, name: string) =>
      statementsOf(of, name).filter((s) => actionsOf(s).some((a) => a.startsWith("ecr:")));
    expect(ecr(pulling, "Worker").map((s) => [actionsOf(s), s.Resource])).toEqual([
      [["ecr:GetAuthorizationToken"], "*"],
      [["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:ListImages", "ecr:DescribeImages"], repository],
    ]);
    expect([...ecr(pulling, "Webhook"), ...ecr(pulling, "Tick"), ...ecr(stack, "Worker")]).toEqual([]);
  });

  it("lets the worker read only the Bucket sources' S3 buckets, and their changes reconcile the Buckets listed through EventBridge", () => {
    // Prepare
    const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    const reading = new SluiceStack(app, "Sluice", {
      cluster: "eks:prod",
      env: { account: "123456789012", region: "eu-west-1" },
      bucketSources: [{ bucketName: "fleet-manifests", reconcile: ["flux-system/apps"] }, { bucketName: "quiet" }],
    });
    // Act
    const synthesized = Template.fromStack(reading);
    // Assess
    const s3 = (of: SluiceStack, name: string) =>
      statementsOf(of, name).filter((s) => actionsOf(s).some((a) => a === "s3:ListBucket" || a === "s3:GetObject"));
    expect(JSON.stringify(s3(reading, "Worker"))).toContain("fleet-manifests/*");
    expect(JSON.stringify(s3(reading, "Worker"))).toContain(":s3:::quiet");
    expect(
      [...s3(reading, "Webhook"), ...s3(reading, "Tick"), ...s3(stack, "Worker")].map((x) => x.Resource),
    ).not.toContainEqual(expect.stringContaining("fleet-manifests"));
    const rules = synthesized.findResources("AWS::Events::Rule", {
      Properties: { EventPattern: { source: ["aws.s3"], detail: { bucket: { name: ["fleet-manifests"] } } } },
    });
    expect(Object.keys(rules)).toHaveLength(1);
    const [target] = (Object.values(rules)[0] as { Properties: { Targets: Record<string, unknown>[] } }).Properties
      .Targets;
    expect(target).toMatchObject({ SqsParameters: { MessageGroupId: "Bucket/flux-system/apps" } });
    expect(JSON.stringify(target)).toContain('\\"key\\":\\"Bucket/flux-system/apps\\"');
    expect(target).toMatchObject({ InputTransformer: { InputPathsMap: { id: "$.id" } } });
    expect(JSON.stringify(target)).toContain('\\"reason\\":\\"webhook\\",\\"trigger\\":<id>');
    // The Jobs queue is encrypted with the stack's key: EventBridge is granted its use.
    const keyPolicy = JSON.stringify(synthesized.findResources("AWS::KMS::Key"));
    expect(keyPolicy).toContain("events.amazonaws.com");
    expect(() => app.synth()).not.toThrow();
    expect(
      () =>
        new SluiceStack(new App({ context: { "aws:cdk:bundling-stacks": [] } }), "Sluice", {
          cluster: "eks:prod",
          bucketSources: [{ bucketName: "b", reconcile: ["just-a-name"] }],
        }),
    ).toThrow("bucketSources[0].reconcile: 'just-a-name' is not <namespace>/<name>");
  }, 120_000);

  it("rescans the ImageRepositories listed for an ECR repository when an image is pushed to it, through EventBridge", () => {
    // Prepare
    const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    const pushed = new SluiceStack(app, "Sluice", {
      cluster: "eks:prod",
      env: { account: "123456789012", region: "eu-west-1" },
      ecrPushSources: [{ repositoryName: "team/podinfo", reconcile: ["apps/podinfo", "staging/podinfo"] }],
    });
    // Act
    const synthesized = Template.fromStack(pushed);
    // Assess: one rule per ImageRepository, matching only that repository's successful pushes
    const rules = Object.values(
      synthesized.findResources("AWS::Events::Rule", { Properties: { EventPattern: { source: ["aws.ecr"] } } }),
    ) as { Properties: { EventPattern: unknown; Targets: Record<string, unknown>[] } }[];
    expect(rules.map((r) => r.Properties.EventPattern)).toEqual(
      Array(2).fill({
        source: ["aws.ecr"],
        "detail-type": ["ECR Image Action"],
        detail: { "action-type": ["PUSH"], result: ["SUCCESS"], "repository-name": ["team/podinfo"] },
      }),
    );
    const targets = rules.map((r) => r.Properties.Targets[0]!);
    expect(targets.map((t) => (t.SqsParameters as { MessageGroupId: string }).MessageGroupId)).toEqual([
      "ImageRepository/apps/podinfo",
      "ImageRepository/staging/podinfo",
    ]);
    expect(JSON.stringify(targets[0])).toContain(
      '\\"key\\":\\"ImageRepository/apps/podinfo\\",\\"reason\\":\\"webhook\\",\\"trigger\\":<id>',
    );
    expect(JSON.stringify(targets[0]!.Arn)).toContain("Jobs");
    expect(() => app.synth()).not.toThrow();
    // Bad props are named, never synthesised into a rule that matches nothing
    const stackWith = (ecrPushSources: SluiceStackProps["ecrPushSources"]) => () =>
      new SluiceStack(new App({ context: { "aws:cdk:bundling-stacks": [] } }), "Sluice", {
        cluster: "eks:prod",
        ecrPushSources,
      });
    expect(stackWith([{ repositoryName: "Team/App", reconcile: ["apps/app"] }])).toThrow(
      "ecrPushSources[0].repositoryName: 'Team/App' is not an ECR repository name",
    );
    expect(stackWith([{ repositoryName: "app", reconcile: ["apps/app/extra"] }])).toThrow(
      "ecrPushSources[0].reconcile: 'apps/app/extra' is not <namespace>/<name>",
    );
  }, 120_000);

  it("keeps Secrets Manager and EKS to the worker", () => {
    const worker = statementsOf(stack, "Worker").flatMap(actionsOf);
    expect(worker).toEqual(expect.arrayContaining(["secretsmanager:GetSecretValue", "eks:DescribeCluster"]));
    expect(
      statementsOf(stack, "Tick")
        .flatMap(actionsOf)
        .filter((a) => a.startsWith("secretsmanager:") || a.startsWith("eks:")),
    ).toEqual([]);
  });
});

describe("notifications: the notify function and its queue", () => {
  const resources = template.toJSON().Resources as Record<string, { Type: string; Properties: Record<string, never> }>;
  const idOf = (construct: { node: { defaultChild?: unknown } }) =>
    stack.getLogicalId(construct.node.defaultChild as CfnRole);
  const queueId = idOf(stack.node.findChild("Notifications") as never);
  const deadLetterId = idOf(stack.node.findChild("NotificationDeadLetters") as never);
  const notifyId = idOf(functionNamed(stack, "Notify"));

  it("consumes its own FIFO queue in batches with partial failures; 6 receives, then a FIFO dead-letter queue with an alarm", () => {
    const queue = resources[queueId]!.Properties as unknown as {
      FifoQueue: boolean;
      VisibilityTimeout: number;
      DeduplicationScope: string;
      FifoThroughputLimit: string;
      RedrivePolicy: { maxReceiveCount: number; deadLetterTargetArn: unknown };
    };
    expect(queue).toMatchObject({
      FifoQueue: true,
      DeduplicationScope: "messageGroup",
      FifoThroughputLimit: "perMessageGroupId",
    });
    expect(queue.RedrivePolicy).toEqual({
      maxReceiveCount: 6,
      deadLetterTargetArn: { "Fn::GetAtt": [deadLetterId, "Arn"] },
    });
    expect(resources[deadLetterId]!.Properties).toMatchObject({ FifoQueue: true, MessageRetentionPeriod: 1_209_600 });
    const notify = resources[notifyId]!.Properties as unknown as { Timeout: number };
    expect(queue.VisibilityTimeout).toBeGreaterThanOrEqual(6 * notify.Timeout);
    template.hasResourceProperties("AWS::Lambda::EventSourceMapping", {
      FunctionName: { Ref: notifyId },
      EventSourceArn: { "Fn::GetAtt": [queueId, "Arn"] },
      FunctionResponseTypes: ["ReportBatchItemFailures"],
    });
    template.hasResourceProperties("AWS::CloudWatch::Alarm", {
      MetricName: "ApproximateNumberOfMessagesVisible",
      Dimensions: [{ Name: "QueueName", Value: { "Fn::GetAtt": [deadLetterId, "QueueName"] } }],
      Threshold: 0,
    });
    // Handled records outlive the dead-letter queue's retention, so a redrive sends nothing twice.
    template.hasResourceProperties("AWS::S3::Bucket", {
      LifecycleConfiguration: {
        Rules: Match.arrayWith([Match.objectLike({ Prefix: "notifications/", ExpirationInDays: 15 })]),
      },
    });
  });

  it("gives the worker the queue's URL and the right to send to it, nothing more", () => {
    const worker = statementsOf(stack, "Worker").filter((s) => JSON.stringify(s.Resource).includes(queueId));
    expect(worker.flatMap(actionsOf).filter((a) => a.startsWith("sqs:"))).toEqual([
      "sqs:SendMessage",
      "sqs:GetQueueAttributes",
      "sqs:GetQueueUrl",
    ]);
    const variables = (resources[notifyId]!.Properties as unknown as { Environment: { Variables: object } }).Environment
      .Variables;
    expect(variables).toMatchObject({ SLUICE_NOTIFY_QUEUE_URL: { Ref: queueId } });
  });

  it("lets the notify function read the Store and tagged secrets, write only its handled log, publish nowhere by default", () => {
    const statements = statementsOf(stack, "Notify");
    const actions = statements.flatMap(actionsOf);
    expect(actions.filter((a) => /^(eks|sts|sns|events|kms:Sign)/.test(a))).toEqual([]);
    const s3 = statements.filter((s) => actionsOf(s).some((a) => a.startsWith("s3:")));
    const writes = s3.filter((s) => actionsOf(s).some((a) => a.startsWith("s3:Put") || a.startsWith("s3:Delete")));
    expect(writes.length).toBeGreaterThan(0);
    for (const write of writes) expect(JSON.stringify(write.Resource)).not.toContain("store/");
    for (const write of writes) expect(JSON.stringify(write.Resource)).toContain("/notifications/*");
    const reads = s3.filter((s) => actionsOf(s).some((a) => a.startsWith("s3:GetObject")));
    expect(reads.map((s) => JSON.stringify(s.Resource)).sort()).toEqual([
      expect.stringContaining("/notifications/*"),
      expect.stringContaining("/store/*"),
    ]);
    // No SendMessage to any queue: it only consumes its own.
    expect(actions).not.toContain("sqs:SendMessage");
    const secrets = statements.filter((s) => actionsOf(s).includes("secretsmanager:GetSecretValue"));
    expect(secrets).toEqual([
      expect.objectContaining({
        Condition: { StringEquals: { "secretsmanager:ResourceTag/sluice:notify": "true" } },
      }),
    ]);
  });

  it("publishes to exactly the SNS topics and EventBridge buses listed", () => {
    const topic = "arn:aws:sns:eu-west-1:123456789012:deploys";
    const bus = "arn:aws:events:eu-west-1:123456789012:event-bus/ops";
    const listed = new SluiceStack(new App({ context: { "aws:cdk:bundling-stacks": [] } }), "Sluice", {
      cluster: "eks:prod",
      env: { account: "123456789012", region: "eu-west-1" },
      notificationTopicArns: [topic],
      notificationBusArns: [bus],
    });
    const publishing = statementsOf(listed, "Notify").filter((s) =>
      actionsOf(s).some((a) => a === "sns:Publish" || a === "events:PutEvents"),
    );
    expect(publishing.map((s) => [actionsOf(s), s.Resource])).toEqual([
      [["sns:Publish"], topic],
      [["events:PutEvents"], bus],
    ]);
    for (const other of ["Worker", "Tick", "Webhook"])
      expect(statementsOf(listed, other).flatMap(actionsOf)).not.toEqual(
        expect.arrayContaining([expect.stringMatching(/^(sns|events):/)]),
      );
  });
});

describe("the worker's EKS access (access entries)", () => {
  const env = { account: "123456789012", region: "eu-west-1" };
  const synthesized = (props: Partial<SluiceStackProps>) =>
    new SluiceStack(new App({ context: { "aws:cdk:bundling-stacks": [] } }), "Sluice", {
      cluster: "eks:prod",
      env,
      ...props,
    });

  it("maps the worker to Kubernetes groups with no access policy, for RBAC you bind yourself", () => {
    const template = Template.fromStack(
      synthesized({ eksClusters: [{ name: "prod", kubernetesGroups: ["sluice-appliers"] }] }),
    );
    const [entry] = Object.values(template.findResources("AWS::EKS::AccessEntry")) as {
      Properties: Record<string, unknown>;
    }[];
    expect(entry!.Properties.KubernetesGroups).toEqual(["sluice-appliers"]);
    expect(entry!.Properties.AccessPolicies).toBeUndefined();
  });

  it("limits an access policy to namespaces", () => {
    const edit = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy";
    const template = Template.fromStack(
      synthesized({ eksClusters: [{ name: "prod", accessPolicyArn: edit, namespaces: ["apps", "web"] }] }),
    );
    template.hasResourceProperties("AWS::EKS::AccessEntry", {
      ClusterName: "prod",
      AccessPolicies: [{ PolicyArn: edit, AccessScope: { Type: "namespace", Namespaces: ["apps", "web"] } }],
    });
  });

  it.each([
    [
      { name: "prod", namespaces: ["apps"] },
      "AmazonEKSClusterAdminPolicy can only be cluster-wide; set accessPolicyArn to AmazonEKSAdminPolicy or AmazonEKSEditPolicy",
    ],
    [
      { name: "prod", kubernetesGroups: ["ops"], namespaces: ["apps"] },
      "namespaces limit an access policy, and there is none with kubernetesGroups alone",
    ],
    [
      { name: "prod", kubernetesGroups: ["system:masters"] },
      "kubernetesGroups 'system:masters': EKS refuses empty and system: groups",
    ],
    [{ name: "prod", kubernetesGroups: [] }, "kubernetesGroups is empty"],
    [
      { name: "prod", accessPolicyArn: "arn:aws:iam::aws:policy/AdministratorAccess" },
      "accessPolicyArn 'arn:aws:iam::aws:policy/AdministratorAccess' is not an EKS access policy ARN",
    ],
    [
      {
        name: "prod",
        accessPolicyArn: "arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy",
        namespaces: ["Apps_1"],
      },
      "namespaces 'Apps_1' is not a Kubernetes namespace name",
    ],
  ])("refuses %j at synth time, saying what to fix", (cluster, message) => {
    const invalid = synthesized({ eksClusters: [cluster] });
    expect(invalid.node.validate()).toEqual([expect.stringContaining(`eksClusters[0] (prod): ${message}`)]);
    expect(() => App.of(invalid)!.synth()).toThrow(message.split(";")[0]);
  });

  it("refuses the same cluster twice", () => {
    expect(
      synthesized({ eksClusters: [{ name: "prod" }, { name: "prod", kubernetesGroups: ["ops"] }] }).node.validate(),
    ).toEqual([expect.stringContaining("eksClusters[1] (prod): the cluster is listed twice")]);
  });
});

describe("lockdown settings reach every function's environment", () => {
  const env = { account: "123456789012", region: "eu-west-1" };
  const environmentOf = (props: Partial<SluiceStackProps>) => {
    const template = Template.fromStack(
      new SluiceStack(new App({ context: { "aws:cdk:bundling-stacks": [] } }), "Sluice", {
        cluster: "eks:prod",
        env,
        ...props,
      }),
    );
    return Object.values(template.findResources("AWS::Lambda::Function")).map(
      (f) =>
        (f as { Properties: { Environment: { Variables: Record<string, string> } } }).Properties.Environment.Variables,
    );
  };

  it("defaults to refusing remote bases, private addresses and cross-namespace receivers", () => {
    for (const variables of environmentOf({})) {
      expect(variables).toMatchObject({
        SLUICE_ALLOW_REMOTE_BASES: "false",
        SLUICE_ALLOW_PRIVATE_NETWORKS: "false",
        SLUICE_ALLOW_CROSS_NAMESPACE_RECEIVERS: "false",
        SLUICE_NO_CROSS_NAMESPACE_REFS: "false",
      });
      expect(variables.SLUICE_DEFAULT_SERVICE_ACCOUNT).toBeUndefined();
    }
  });

  it("passes Flux's lockdown flags through", () => {
    const props = {
      noCrossNamespaceRefs: true,
      defaultServiceAccount: "reconciler",
      allowRemoteBases: true,
      renderLimits: { timeoutMs: 120_000, maxDocuments: 5_000 },
    };
    for (const variables of environmentOf(props)) {
      expect(variables).toMatchObject({
        SLUICE_NO_CROSS_NAMESPACE_REFS: "true",
        SLUICE_DEFAULT_SERVICE_ACCOUNT: "reconciler",
        SLUICE_ALLOW_REMOTE_BASES: "true",
      });
      expect(parseRenderLimits(variables.SLUICE_RENDER_LIMITS, "env")).toEqual({
        ...defaultRenderLimits,
        timeoutMs: 120_000,
        maxDocuments: 5_000,
      });
    }
  });
});
