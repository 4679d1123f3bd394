import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { KubectlV35Layer } from "@aws-cdk/lambda-layer-kubectl-v35";
import {
  AssetHashType,
  CfnOutput,
  DockerImage,
  Duration,
  RemovalPolicy,
  Stack,
  Token,
  Validations,
  type StackProps,
} from "aws-cdk-lib";
import type { CfnStage } from "aws-cdk-lib/aws-apigatewayv2";
import { HttpApi, HttpMethod } from "aws-cdk-lib/aws-apigatewayv2";
import { HttpLambdaIntegration } from "aws-cdk-lib/aws-apigatewayv2-integrations";
import { Alarm, ComparisonOperator, TreatMissingData } from "aws-cdk-lib/aws-cloudwatch";
import type { IVpc } from "aws-cdk-lib/aws-ec2";
import { CfnAccessEntry } from "aws-cdk-lib/aws-eks";
import { EventField, Rule, RuleTargetInput, Schedule, type RuleProps } from "aws-cdk-lib/aws-events";
import { LambdaFunction, SqsQueue } from "aws-cdk-lib/aws-events-targets";
import { Effect, PolicyStatement } from "aws-cdk-lib/aws-iam";
import { Key, KeySpec, KeyUsage } from "aws-cdk-lib/aws-kms";
import {
  Architecture,
  Code,
  Function as LambdaFn,
  type FunctionProps,
  LoggingFormat,
  Runtime,
} from "aws-cdk-lib/aws-lambda";
import { SqsEventSource } from "aws-cdk-lib/aws-lambda-event-sources";
import { LogGroup, RetentionDays } from "aws-cdk-lib/aws-logs";
import { BlockPublicAccess, Bucket, BucketEncryption, type CfnBucket, ObjectOwnership } from "aws-cdk-lib/aws-s3";
import { DeduplicationScope, FifoThroughputLimit, Queue, QueueEncryption } from "aws-cdk-lib/aws-sqs";
import type { Construct } from "constructs";
import { NOTIFY_SECRET_TAG } from "../src/aws/notify-secrets.js";
import { channelPrefixes } from "../src/aws/s3-bundle-channel.js";
import type { RenderLimits } from "../src/render/limits.js";
import { SluiceAgentAccess, type SluiceAgentAccessProps } from "./agent-access.js";
import { SluiceMonitoring } from "./monitoring.js";
import { SluiceUi, type SluiceUiOptions } from "./ui.js";
import { functionSource } from "../scripts/build.js";

/**
 * An S3 bucket Bucket sources read with the worker's own identity (`provider: aws`, no secretRef), and the Bucket
 * objects its changes reconcile at once.
 */
export interface BucketSourceAccess {
  /** The S3 bucket's name (in this account; the worker may list it and get its objects). */
  bucketName: string;
  /**
   * The Bucket objects reading it, `<namespace>/<name>`: an object created or deleted in the bucket reconciles
   * each at once, through an EventBridge rule (the bucket must send its events to EventBridge:
   * `aws s3api put-bucket-notification-configuration --bucket <name> --notification-configuration
   * '{"EventBridgeConfiguration":{}}'`, or `eventBridgeEnabled: true` on a CDK bucket). @default none: the interval only
   */
  reconcile?: string[];
}

/** An ECR repository whose pushes rescan, at once, the ImageRepositories scanning it. */
export interface EcrPushSource {
  /** The repository's name (in this account and region), as in `<account>.dkr.ecr.<region>.amazonaws.com/<name>`. */
  repositoryName: string;
  /**
   * The ImageRepository objects whose `image` is this repository, `<namespace>/<name>`: a successful image push
   * (ECR's `ECR Image Action` event, action `PUSH`) reconciles each at once, through an EventBridge rule. ECR sends
   * these events to the default bus without any setup. The worker's pull rights are `ecrRepositoryArns`'.
   */
  reconcile: string[];
}

/** A cluster the worker applies to directly, with an EKS access entry for the worker's role. */
export interface TargetCluster {
  /** EKS cluster name (in this account and region). */
  name: string;
  /**
   * EKS access policy associated with the worker's role. AmazonEKSClusterAdminPolicy is cluster-wide
   * only; AmazonEKSAdminPolicy or AmazonEKSEditPolicy can be limited to `namespaces`.
   * @default AmazonEKSClusterAdminPolicy (what Flux's kustomize-controller has), or none when `kubernetesGroups` is set
   */
  accessPolicyArn?: string;
  /** Limit the access policy to these namespaces (access scope `namespace`). @default the whole cluster */
  namespaces?: string[];
  /**
   * Kubernetes groups the worker's role is mapped to. Least privilege: set these without an
   * accessPolicyArn, so no access policy is associated, and bind RBAC (RoleBindings,
   * ClusterRoleBindings) to the groups yourself, for exactly what your fleet applies.
   * @default none
   */
  kubernetesGroups?: string[];
}

export interface SluiceStackProps extends StackProps {
  /** The cluster reconcilers apply to by default: `eks:<name>` or `kubeconfig:<Secrets Manager secret id>`; empty for agent clusters only. */
  cluster: string;
  /** EKS clusters to grant the worker access to (see {@link TargetCluster} for least-privilege options). @default the `eks:` cluster, cluster admin */
  eksClusters?: TargetCluster[];
  /** Place the worker in this VPC (private EKS endpoints). */
  vpc?: IVpc;
  /** Webhook throttling. @default 50 requests/s, burst 100 */
  webhookRateLimit?: number;
  /**
   * Clusters served by a pull agent: each gets an IAM role limited to its own bundle and status
   * prefixes; the stack adds a KMS signing key (ECC P-256) the worker signs bundles with.
   */
  agentClusters?: Omit<SluiceAgentAccessProps, "bucket" | "bucketKey">[];
  /** Let kustomize fetch remote bases (Git or HTTP URLs in `resources`). @default false */
  allowRemoteBases?: boolean;
  /** Let sources be fetched from private addresses inside the VPC (link-local and metadata addresses stay refused). @default false */
  allowPrivateNetworks?: boolean;
  /** Let a Receiver trigger objects outside its own namespace. @default false */
  allowCrossNamespaceReceivers?: boolean;
  /** Flux's `--no-cross-namespace-refs`: sourceRef, dependsOn and Receivers stay in their own namespace. @default false */
  noCrossNamespaceRefs?: boolean;
  /** Flux's `--default-service-account`: Kustomizations without `serviceAccountName` run as this account of their namespace. @default none (the worker's own rights) */
  defaultServiceAccount?: string;
  /** Flux's `--insecure-kubeconfig-tls`: allow `insecure-skip-tls-verify` in `kubeConfig.secretRef` kubeconfigs. @default false */
  insecureKubeConfigTLS?: boolean;
  /** Bounds on one render (`sluice run --render-limits`); unset keys keep the defaults listed in the README. @default the defaults */
  renderLimits?: Partial<RenderLimits>;
  /**
   * IAM roles the worker may assume to reach EKS clusters in other accounts (a Cluster registration's
   * `spec.eks.roleArn`); each must trust the worker's role and have an EKS access entry. @default none
   */
  assumableRoleArns?: string[];
  /**
   * ECR repositories OCIRepositories with `provider: aws` pull from: the worker may get an ECR
   * authorization token and pull images and artifacts from these. @default none
   */
  ecrRepositoryArns?: string[];
  /**
   * SNS topics the notify function may publish to: the addresses of `generic` Providers that name a
   * topic ARN (README, Alerts on AWS). @default none
   */
  notificationTopicArns?: string[];
  /** EventBridge buses the notify function may put events on (Provider addresses naming a bus ARN). @default none */
  notificationBusArns?: string[];
  /** S3 buckets Bucket sources read with the worker's identity, and what their changes reconcile at once. @default none */
  bucketSources?: BucketSourceAccess[];
  /** ECR repositories whose pushes rescan ImageRepositories at once (no public endpoint, no registry webhook). @default none */
  ecrPushSources?: EcrPushSource[];
  /** The web UI: CloudFront, a Cognito user pool and the API function (README, Deploying to AWS). @default none */
  ui?: SluiceUiOptions;
}

const WORKER_TIMEOUT = Duration.minutes(5);
/** ECR's repository name pattern (CreateRepository's `repositoryName`). */
const ECR_REPOSITORY_NAME = /^(?=.{2,256}$)(?:[a-z0-9]+(?:[._-][a-z0-9]+)*\/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$/;
const CLUSTER_ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy";
const TICK_TIMEOUT = Duration.minutes(1);
const NOTIFY_TIMEOUT = Duration.minutes(2);
/** Receives of one notification before it is dead-lettered: about 15 minutes of backoff (30 s doubling), or as many Retry-Afters. */
const NOTIFY_RECEIVES = 6;
const root = join(import.meta.dirname, "..");

let built: string | undefined;

/** Every function's bundle, built once per synthesis (one esbuild process; a stack has several functions). */
function builtFunctions(): string {
  if (!built) {
    const dir = mkdtempSync(join(tmpdir(), "sluice-functions-"));
    process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
    execFileSync(process.execPath, ["--import", "tsx", join(root, "scripts", "build.ts"), "functions", dir], {
      cwd: root,
      stdio: "inherit",
    });
    built = dir;
  }
  return built;
}

/**
 * A function's code: `npm run build`'s code-split bundle of functions/<name>/handler.ts (index.mjs, and the chunks a
 * message loads when it first needs them), the output bench/coldstart measures, built while the app synthesizes.
 * The pinned AWS SDK clients are bundled, not taken from the runtime: the tested versions run, the measured cold
 * start is the deployed one, and the clients a function rarely uses stay in chunks it loads only then.
 */
function functionCode(name: string): Code {
  return Code.fromAsset(dirname(functionSource(name)), {
    assetHashType: AssetHashType.OUTPUT, // the bundle's hash: a change anywhere it imports deploys
    bundling: {
      image: DockerImage.fromRegistry("public.ecr.aws/docker/library/node:24"), // required by the type; never used
      local: {
        tryBundle(outputDir) {
          cpSync(join(builtFunctions(), name), outputDir, { recursive: true });
          return true;
        },
      },
    },
  });
}

/**
 * Sluice on AWS: webhook (HTTP API) and tick (EventBridge, every minute) enqueue reconcile jobs
 * on an SQS FIFO queue; the worker reconciles them; S3 holds the Store, artifacts and schedules.
 */
export class SluiceStack extends Stack {
  constructor(scope: Construct, id: string, props: SluiceStackProps) {
    super(scope, id, props);
    const key = new Key(this, "Key", { enableKeyRotation: true, description: "Sluice state, artifacts and queues" });

    const accessLogs = new Bucket(this, "AccessLogs", {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      encryption: BucketEncryption.S3_MANAGED,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_PREFERRED,
      lifecycleRules: [{ expiration: Duration.days(90) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const bucket = new Bucket(this, "State", {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: true,
      encryption: BucketEncryption.KMS,
      encryptionKey: key,
      bucketKeyEnabled: true,
      serverAccessLogsBucket: accessLogs,
      serverAccessLogsPrefix: "state/",
      lifecycleRules: [
        // Artifacts are content-addressed and re-fetched when missing: old ones can go.
        { prefix: "artifacts/", expiration: Duration.days(30), noncurrentVersionExpiration: Duration.days(7) },
        { prefix: "deliveries/", expiration: Duration.days(2) },
        // Handled notifications: kept past the notification dead-letter queue's 14 days, so a redrive sends nothing twice.
        { prefix: "notifications/", expiration: Duration.days(15) },
        // Retired receiver records hold old tokens: their versions go after a day.
        { prefix: "receivers/", noncurrentVersionExpiration: Duration.days(1) },
        { noncurrentVersionExpiration: Duration.days(30) },
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });

    const deadLetters = new Queue(this, "DeadLetters", {
      fifo: true,
      encryption: QueueEncryption.KMS,
      encryptionMasterKey: key,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    const jobs = new Queue(this, "Jobs", {
      fifo: true,
      // High-throughput FIFO: throughput per message group (= per object), dedup per group.
      deduplicationScope: DeduplicationScope.MESSAGE_GROUP,
      fifoThroughputLimit: FifoThroughputLimit.PER_MESSAGE_GROUP_ID,
      visibilityTimeout: Duration.seconds(WORKER_TIMEOUT.toSeconds() * 6),
      encryption: QueueEncryption.KMS,
      encryptionMasterKey: key,
      enforceSSL: true,
      deadLetterQueue: { queue: deadLetters, maxReceiveCount: 5 },
    });
    const delayDeadLetters = new Queue(this, "DelayDeadLetters", {
      encryption: QueueEncryption.KMS,
      encryptionMasterKey: key,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    const delayed = new Queue(this, "Delayed", {
      visibilityTimeout: Duration.seconds(TICK_TIMEOUT.toSeconds() * 6),
      encryption: QueueEncryption.KMS,
      encryptionMasterKey: key,
      enforceSSL: true,
      deadLetterQueue: { queue: delayDeadLetters, maxReceiveCount: 5 },
    });
    // Events on their way to Alerts: FIFO for its 5-minute deduplication (Flux's rate limit on the
    // same notification), one message group per notification (no head-of-line blocking).
    const notificationDeadLetters = new Queue(this, "NotificationDeadLetters", {
      fifo: true,
      encryption: QueueEncryption.KMS,
      encryptionMasterKey: key,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    const notifications = new Queue(this, "Notifications", {
      fifo: true,
      deduplicationScope: DeduplicationScope.MESSAGE_GROUP,
      fifoThroughputLimit: FifoThroughputLimit.PER_MESSAGE_GROUP_ID,
      visibilityTimeout: Duration.seconds(NOTIFY_TIMEOUT.toSeconds() * 6),
      encryption: QueueEncryption.KMS,
      encryptionMasterKey: key,
      enforceSSL: true,
      deadLetterQueue: { queue: notificationDeadLetters, maxReceiveCount: NOTIFY_RECEIVES },
    });
    const deadLetterAlarms = (
      [
        ["Jobs", deadLetters, 5],
        ["Delayed", delayDeadLetters, 5],
        ["Notifications", notificationDeadLetters, NOTIFY_RECEIVES],
      ] as const
    ).map(
      ([name, queue, receives]) =>
        new Alarm(this, `${name}DeadLetterAlarm`, {
          metric: queue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1) }),
          threshold: 0,
          comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: TreatMissingData.NOT_BREACHING,
          alarmDescription: `Sluice ${name} messages failed ${receives} times and were dead-lettered: inspect and redrive`,
        }),
    );

    const agentClusters = props.agentClusters ?? [];
    const signing =
      agentClusters.length > 0
        ? new Key(this, "BundleSigning", {
            keySpec: KeySpec.ECC_NIST_P256,
            keyUsage: KeyUsage.SIGN_VERIFY,
            description: "Sluice: signs bundles for pull agents",
          })
        : undefined;
    const environment = {
      SLUICE_BUCKET: bucket.bucketName,
      SLUICE_QUEUE_URL: jobs.queueUrl,
      SLUICE_DELAY_QUEUE_URL: delayed.queueUrl,
      SLUICE_KMS_KEY_ID: key.keyArn,
      SLUICE_CLUSTER: props.cluster,
      SLUICE_DEAD_LETTER_URL: deadLetters.queueUrl,
      SLUICE_NOTIFY_QUEUE_URL: notifications.queueUrl,
      ...(agentClusters.length > 0 && { SLUICE_AGENT_CLUSTERS: agentClusters.map((a) => a.cluster).join(",") }),
      ...(signing && { SLUICE_BUNDLE_KEY: `kms:${signing.keyArn}` }),
      SLUICE_ALLOW_REMOTE_BASES: String(props.allowRemoteBases ?? false),
      SLUICE_ALLOW_PRIVATE_NETWORKS: String(props.allowPrivateNetworks ?? false),
      SLUICE_ALLOW_CROSS_NAMESPACE_RECEIVERS: String(props.allowCrossNamespaceReceivers ?? false),
      SLUICE_NO_CROSS_NAMESPACE_REFS: String(props.noCrossNamespaceRefs ?? false),
      SLUICE_INSECURE_KUBECONFIG_TLS: String(props.insecureKubeConfigTLS ?? false),
      ...(props.defaultServiceAccount && { SLUICE_DEFAULT_SERVICE_ACCOUNT: props.defaultServiceAccount }),
      ...(props.renderLimits && {
        SLUICE_RENDER_LIMITS: Object.entries(props.renderLimits)
          .map(([k, v]) => `${k}=${v}`)
          .join(","),
      }),
    };
    const fn = (name: string, extra: Partial<FunctionProps>) =>
      new LambdaFn(this, name, {
        code: functionCode(name.toLowerCase()),
        handler: "index.handler",
        runtime: Runtime.NODEJS_24_X,
        architecture: Architecture.X86_64, // the kubectl/helm layer ships x86-64 binaries
        memorySize: 1024,
        environment,
        loggingFormat: LoggingFormat.JSON,
        logGroup: new LogGroup(this, `${name}Logs`, {
          retention: RetentionDays.ONE_MONTH,
          removalPolicy: RemovalPolicy.DESTROY,
        }),
        ...extra,
      });

    const worker = fn("Worker", {
      timeout: WORKER_TIMEOUT,
      memorySize: 2048,
      layers: [new KubectlV35Layer(this, "Kubectl")],
      vpc: props.vpc,
      reservedConcurrentExecutions: 50,
    });
    worker.addEventSource(new SqsEventSource(jobs, { batchSize: 10, reportBatchItemFailures: true }));
    const tick = fn("Tick", { timeout: TICK_TIMEOUT });
    tick.addEventSource(new SqsEventSource(delayed, { batchSize: 10 }));
    new Rule(this, "EveryMinute", {
      schedule: Schedule.rate(Duration.minutes(1)),
      targets: [new LambdaFunction(tick)],
    });
    // Posts to Providers' endpoints, from the worker's network (a private endpoint is reached the same way).
    const notify = fn("Notify", { timeout: NOTIFY_TIMEOUT, memorySize: 512, vpc: props.vpc });
    notify.addEventSource(new SqsEventSource(notifications, { batchSize: 10, reportBatchItemFailures: true }));
    // Internet-facing and outside the VPC: it reaches only S3 and SQS, never a cluster or Secrets Manager.
    const webhook = fn("Webhook", { timeout: Duration.seconds(10) });

    const api = new HttpApi(this, "Webhooks", {
      description: "Flux Receiver paths: POST /hook/<sha256(token+name+namespace)>",
    });
    // Throttle the default stage (HttpApi exposes no props for it; its stage resource has them).
    const rate = props.webhookRateLimit ?? 50;
    (api.defaultStage!.node.defaultChild as CfnStage).defaultRouteSettings = {
      throttlingRateLimit: rate,
      throttlingBurstLimit: rate * 2,
    };
    api.addRoutes({
      path: "/hook/{digest}",
      methods: [HttpMethod.POST],
      integration: new HttpLambdaIntegration("Hook", webhook),
    });

    new CfnOutput(this, "BucketName", { value: bucket.bucketName, description: "sluice --aws-bucket" });
    new CfnOutput(this, "QueueUrl", { value: jobs.queueUrl, description: "sluice --aws-queue-url" });
    new CfnOutput(this, "EventsLogGroup", {
      value: worker.logGroup.logGroupName,
      description: "events on AWS are log lines here (sluice ui names it)",
    });
    if (signing) {
      signing.grant(worker, "kms:Sign");
      new CfnOutput(this, "BundleKey", {
        value: `kms:${signing.keyArn}`,
        description: "sluice agent install --bundle-key",
      });
      for (const agent of agentClusters)
        new SluiceAgentAccess(this, `Agent-${agent.cluster}`, { ...agent, bucket, bucketKey: key });
    }
    new CfnOutput(this, "WebhookUrl", {
      value: `${api.apiEndpoint}/hook/`,
      description: "Receiver webhooks: append status.webhookPath's digest",
    });

    // Least privilege, per function.
    bucket.grantReadWrite(worker);
    jobs.grantConsumeMessages(worker);
    jobs.grantSendMessages(worker);
    deadLetters.grantSendMessages(worker);
    delayed.grantSendMessages(worker);
    bucket.grantReadWrite(tick, "due/*");
    bucket.grantReadWrite(tick, "due-cursor");
    delayed.grantConsumeMessages(tick);
    // Each agent's heartbeat, for its last contact (HeadObject: S3's time, not the agent's).
    for (const agent of agentClusters) bucket.grantRead(tick, `${channelPrefixes(agent.cluster).status}agent.json`);
    jobs.grantSendMessages(tick);
    // The webhook reads one receiver record, records delivery ids (deleting one whose enqueue failed) and enqueues.
    bucket.grantRead(webhook, "receivers/*");
    bucket.grantPut(webhook, "deliveries/*");
    bucket.grantDelete(webhook, "deliveries/*");
    jobs.grantSendMessages(webhook);
    notifications.grantSendMessages(worker);
    // The notify function reads the Store (Alerts, Providers, an object's labels), keeps its handled log,
    // hands messages back (visibility), reads only the secrets tagged for it, and publishes only
    // to the topics and buses listed.
    bucket.grantRead(notify, "store/*");
    bucket.grantReadWrite(notify, "notifications/*");
    notifications.grantConsumeMessages(notify);
    const secrets = this.formatArn({ service: "secretsmanager", resource: "secret", resourceName: "sluice/*" });
    worker.addToRolePolicy(
      new PolicyStatement({ effect: Effect.ALLOW, actions: ["secretsmanager:GetSecretValue"], resources: [secrets] }),
    );
    notify.addToRolePolicy(
      new PolicyStatement({
        actions: ["secretsmanager:GetSecretValue"],
        resources: [secrets],
        conditions: { StringEquals: { [`secretsmanager:ResourceTag/${NOTIFY_SECRET_TAG}`]: "true" } },
      }),
    );
    if (props.notificationTopicArns?.length)
      notify.addToRolePolicy(new PolicyStatement({ actions: ["sns:Publish"], resources: props.notificationTopicArns }));
    if (props.notificationBusArns?.length)
      notify.addToRolePolicy(
        new PolicyStatement({ actions: ["events:PutEvents"], resources: props.notificationBusArns }),
      );

    if (props.assumableRoleArns?.length)
      worker.addToRolePolicy(new PolicyStatement({ actions: ["sts:AssumeRole"], resources: props.assumableRoleArns }));
    const ecr = props.ecrRepositoryArns ?? [];
    if (ecr.length > 0) {
      // GetAuthorizationToken has no resource of its own (IAM requires "*"); the pulls are held to the listed repositories.
      worker.addToRolePolicy(new PolicyStatement({ actions: ["ecr:GetAuthorizationToken"], resources: ["*"] }));
      worker.addToRolePolicy(
        new PolicyStatement({
          actions: ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:ListImages", "ecr:DescribeImages"],
          resources: ecr,
        }),
      );
    }
    this.bucketSources(props.bucketSources ?? [], worker, jobs);
    this.ecrPushSources(props.ecrPushSources ?? [], jobs);
    const eksClusters =
      props.eksClusters ?? (props.cluster.startsWith("eks:") ? [{ name: props.cluster.slice(4) }] : []);
    this.node.addValidation({ validate: () => eksClusterProblems(eksClusters) });
    if (eksClusters.length > 0) {
      worker.addToRolePolicy(
        new PolicyStatement({
          actions: ["eks:DescribeCluster"],
          resources: eksClusters.map((c) =>
            this.formatArn({ service: "eks", resource: "cluster", resourceName: c.name }),
          ),
        }),
      );
      // A cluster listed twice is reported by the validation above; one entry each keeps the construct tree valid until then.
      for (const cluster of eksClusters.filter(
        (c, i) => eksClusters.findIndex((other) => other.name === c.name) === i,
      )) {
        const policyArn = cluster.accessPolicyArn ?? (cluster.kubernetesGroups ? undefined : CLUSTER_ADMIN_POLICY);
        new CfnAccessEntry(this, `Access-${cluster.name}`, {
          clusterName: cluster.name,
          principalArn: worker.role!.roleArn,
          type: "STANDARD",
          kubernetesGroups: cluster.kubernetesGroups,
          accessPolicies: policyArn ? [{ policyArn, accessScope: accessScope(cluster) }] : undefined,
        });
      }
    }

    if (props.ui)
      new SluiceUi(this, "WebUi", {
        ...props.ui,
        bucket,
        jobs,
        notifications,
        accessLogs,
        eventsLogGroup: worker.logGroup.logGroupName,
        makeFunction: fn,
      });

    new SluiceMonitoring(this, "Monitoring", {
      worker,
      deadLetterAlarms,
      agentClusters: agentClusters.map((a) => a.cluster),
    });

    acknowledgeFindings(
      this,
      [worker, tick, webhook, notify],
      api,
      this.getLogicalId(bucket.node.defaultChild as CfnBucket),
    );
    if (ecr.length > 0)
      Validations.of(worker).acknowledge({
        id: "AwsSolutions::AwsSolutions-IAM5[Resource::*]",
        reason:
          "ecr:GetAuthorizationToken applies to no resource (IAM requires '*'); the token only works for the repositories the worker may pull, listed in ecrRepositoryArns.",
      });
  }

  /**
   * Bucket sources' S3 buckets: the worker may list them and read their objects; an object created or deleted
   * sends a reconcile request for each Bucket listed straight to the Jobs queue (EventBridge, no function, no public
   * endpoint), as a Receiver's webhook would. The event's id is its trigger, so a retried delivery is one request.
   */
  private bucketSources(sources: BucketSourceAccess[], worker: LambdaFn, jobs: Queue): void {
    for (const [i, source] of sources.entries()) {
      const bucketArn = this.formatArn({ service: "s3", region: "", account: "", resource: source.bucketName });
      worker.addToRolePolicy(new PolicyStatement({ actions: ["s3:ListBucket"], resources: [bucketArn] }));
      worker.addToRolePolicy(new PolicyStatement({ actions: ["s3:GetObject"], resources: [`${bucketArn}/*`] }));
      Validations.of(worker).acknowledge({
        id: `AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::${source.bucketName}/*]`,
        reason: `a Bucket source reads every object of s3://${source.bucketName} it lists (read only, that bucket only).`,
      });
      for (const key of objectKeys("Bucket", source.reconcile ?? [], `bucketSources[${i}].reconcile`))
        this.reconcileOn(jobs, key, `BucketChanged-${source.bucketName}`, {
          description: `s3://${source.bucketName} changed: reconcile ${key}`,
          eventPattern: {
            source: ["aws.s3"],
            detailType: ["Object Created", "Object Deleted"],
            detail: { bucket: { name: [source.bucketName] } },
          },
        });
    }
  }

  /**
   * ECR repositories' successful pushes: a reconcile request for each ImageRepository listed straight to the Jobs
   * queue, as a registry Receiver's delivery would; a requested reconcile scans at once, whatever the interval.
   */
  private ecrPushSources(sources: EcrPushSource[], jobs: Queue): void {
    for (const [i, source] of sources.entries()) {
      if (!ECR_REPOSITORY_NAME.test(source.repositoryName))
        throw new Error(
          `ecrPushSources[${i}].repositoryName: '${source.repositoryName}' is not an ECR repository name`,
        );
      for (const key of objectKeys("ImageRepository", source.reconcile, `ecrPushSources[${i}].reconcile`))
        this.reconcileOn(jobs, key, `EcrPushed-${source.repositoryName}`, {
          description: `ECR ${source.repositoryName} pushed: reconcile ${key}`,
          eventPattern: {
            source: ["aws.ecr"],
            detailType: ["ECR Image Action"],
            detail: { "action-type": ["PUSH"], result: ["SUCCESS"], "repository-name": [source.repositoryName] },
          },
        });
    }
  }

  /**
   * An EventBridge rule `<idPrefix>-<namespace>-<name>` sending a reconcile request for `key` to Jobs; the event's id
   * is its trigger, so a retried delivery is one request.
   */
  private reconcileOn(
    jobs: Queue,
    key: string,
    idPrefix: string,
    rule: Pick<RuleProps, "description" | "eventPattern">,
  ): void {
    new Rule(this, `${idPrefix}-${key.split("/").slice(1).join("-")}`, {
      ...rule,
      targets: [
        new SqsQueue(jobs, {
          messageGroupId: key,
          message: RuleTargetInput.fromObject({ key, reason: "webhook", trigger: EventField.eventId }),
        }),
      ],
    });
  }
}

/** `<Kind>/<namespace>/<name>` for each `<namespace>/<name>` of a prop, or an error naming the prop and the bad item. */
function objectKeys(kind: string, objects: string[], prop: string): string[] {
  return objects.map((object) => {
    const [namespace, name, ...rest] = object.split("/");
    if (!namespace || !name || rest.length > 0) throw new Error(`${prop}: '${object}' is not <namespace>/<name>`);
    return `${kind}/${namespace}/${name}`;
  });
}

/**
 * cdk-nag findings that are deliberate, each acknowledged by its exact finding id (so a new
 * wildcard is flagged, not swallowed) with the reason.
 */
function acknowledgeFindings(stack: Stack, functions: LambdaFn[], api: HttpApi, bucketId: string): void {
  const managed = (policy: string) =>
    `AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/${policy}]`;
  const wildcard = (finding: string) => `AwsSolutions::AwsSolutions-IAM5[${finding}]`;
  const grants = [
    "s3:List*",
    "s3:GetObject*",
    "s3:GetBucket*",
    "s3:DeleteObject*",
    "s3:Abort*",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
  ].map((a) => wildcard(`Action::${a}`));
  const prefixes = ["*", "due/*", "deliveries/*", "receivers/*", "store/*", "notifications/*"].map((p) =>
    wildcard(`Resource::<${bucketId}.Arn>/${p}`),
  );
  // An environment-agnostic stack (no CDK_DEFAULT_ACCOUNT/REGION) has tokens there; cdk-nag prints them as pseudo parameters.
  const literal = (value: string, pseudo: string) => (Token.isUnresolved(value) ? `<${pseudo}>` : value);
  const secrets = wildcard(
    `Resource::arn:<AWS::Partition>:secretsmanager:${literal(stack.region, "AWS::Region")}:${literal(stack.account, "AWS::AccountId")}:secret/sluice/*`,
  );
  for (const fn of functions) {
    Validations.of(fn).acknowledge(
      ...["AWSLambdaBasicExecutionRole", "AWSLambdaVPCAccessExecutionRole"].map((policy) => ({
        id: managed(policy),
        reason:
          "AWS-managed Lambda execution policies only let the function write its own logs (and manage its VPC network interfaces).",
      })),
      ...grants.map((id) => ({
        id,
        reason:
          "CDK's S3 and KMS grant methods emit these action groups (object versions, multipart uploads, data keys); they apply only to this stack's bucket and key.",
      })),
      ...prefixes.map((id) => ({
        id,
        reason:
          "Scoped to a key prefix of this stack's state bucket: schedules (due/), delivery ids (deliveries/), receiver records (receivers/), the Store read by the notify function (store/), handled notifications (notifications/).",
      })),
      {
        id: secrets,
        reason:
          "Secrets Manager names derived from secretRef live under sluice/<namespace>/<name> (README); the worker reads only that prefix, the notify function only the secrets there tagged sluice:notify=true.",
      },
    );
  }
  Validations.of(api).acknowledge(
    {
      id: "AwsSolutions::AwsSolutions-APIG1",
      reason:
        "Webhook deliveries are logged by the webhook function (verdict, receiver, delivery id); API access logs would duplicate them.",
    },
    {
      id: "AwsSolutions::AwsSolutions-APIG4",
      reason:
        "Git hosts cannot send IAM or JWT auth: each delivery is authenticated by the Receiver's token (HMAC signature or shared token) in the function, as Flux's receiver does.",
    },
  );
  Validations.of(stack).acknowledge({
    id: "AwsSolutions::AwsSolutions-L1",
    reason:
      "Node.js 24 is pinned on purpose: it matches the Node the project is built and tested with (package.json engines).",
  });
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const ACCESS_POLICY = /^arn:aws[a-z-]*:eks::aws:cluster-access-policy\/[A-Za-z0-9]+$/;

function accessScope(cluster: TargetCluster): { type: string; namespaces?: string[] } {
  return cluster.namespaces ? { type: "namespace", namespaces: cluster.namespaces } : { type: "cluster" };
}

/** What EKS would refuse at deploy time (or what would silently grant more than meant), as messages saying what to fix. */
export function eksClusterProblems(clusters: TargetCluster[]): string[] {
  const problems: string[] = [];
  clusters.forEach((cluster, i) => {
    const problem = (text: string) => problems.push(`eksClusters[${i}] (${cluster.name || "no name"}): ${text}`);
    if (!cluster.name) problem("set name to the EKS cluster's name");
    if (clusters.findIndex((c) => c.name === cluster.name) !== i)
      problem("the cluster is listed twice; keep one entry per cluster");
    if (cluster.accessPolicyArn !== undefined && !ACCESS_POLICY.test(cluster.accessPolicyArn)) {
      problem(
        `accessPolicyArn '${cluster.accessPolicyArn}' is not an EKS access policy ARN (arn:aws:eks::aws:cluster-access-policy/<name>)`,
      );
    }
    if (cluster.kubernetesGroups !== undefined) {
      if (cluster.kubernetesGroups.length === 0)
        problem("kubernetesGroups is empty; name the groups your RBAC bindings grant, or leave it out");
      for (const group of cluster.kubernetesGroups.filter((g) => !g || g.startsWith("system:"))) {
        problem(`kubernetesGroups '${group}': EKS refuses empty and system: groups; use a group of your own`);
      }
    }
    if (cluster.namespaces !== undefined) {
      const policy = cluster.accessPolicyArn ?? (cluster.kubernetesGroups ? undefined : CLUSTER_ADMIN_POLICY);
      if (cluster.namespaces.length === 0)
        problem(
          "namespaces is empty; list the namespaces the worker may apply to, or leave it out for the whole cluster",
        );
      if (!policy)
        problem(
          "namespaces limit an access policy, and there is none with kubernetesGroups alone; limit access with RoleBindings instead, or set accessPolicyArn",
        );
      if (policy?.endsWith("/AmazonEKSClusterAdminPolicy")) {
        problem(
          "AmazonEKSClusterAdminPolicy can only be cluster-wide; set accessPolicyArn to AmazonEKSAdminPolicy or AmazonEKSEditPolicy to limit it to namespaces",
        );
      }
      for (const namespace of cluster.namespaces.filter((n) => !DNS_LABEL.test(n)))
        problem(`namespaces '${namespace}' is not a Kubernetes namespace name`);
    }
  });
  return problems;
}
