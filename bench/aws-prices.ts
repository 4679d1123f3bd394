// AWS's public on-demand prices for us-east-1, as read on the pages cited (read 2026-12-02 through the search
// tool's stored copies; a page's own date is given when it states one). Free tiers are noted, never applied: the
// comparison should hold for an account that already spends them. A price no stored page gave is marked
// `assumption` and says so wherever it is printed.

export interface Price {
  /** US dollars per `unit`. */
  usd: number;
  unit: string;
  source: string;
  /** The free tier the page states (not applied). */
  freeTier?: string;
  /** True when no stored page gave the figure: AWS's list price as commonly published, unverified here. */
  assumption?: boolean;
}

export const PRICES_READ_ON = "2026-12-02";

const LAMBDA = "https://aws.amazon.com/lambda/pricing/ (x86 tier table via cloudchipr.com/blog/aws-lambda-pricing)";
const SQS = "https://www.factualminds.com/blog/amazon-sqs-pricing-64kb-rule-fifo-vs-standard/ (us-east-1, June 2026)";
const S3 = "https://devnotes.tech/understanding-aws-s3-pricing-a-complete-cost-breakdown-with-examples";
const CLOUDWATCH = "https://aws.amazon.com/cloudwatch/pricing/";

export const prices = {
  lambdaGbSecond: {
    usd: 0.0000166667,
    unit: "GB-second (x86, first 6 billion GB-s a month)",
    source: LAMBDA,
    freeTier: "400,000 GB-s a month",
  },
  lambdaRequest: {
    usd: 0.2 / 1e6,
    unit: "request",
    source: "no stored page stated it (AWS's list price as commonly published)",
    freeTier: "1 million requests a month",
    assumption: true,
  },
  sqsFifoRequest: {
    usd: 0.5 / 1e6,
    unit: "FIFO request (each 64 KiB chunk of a payload is one request)",
    source: SQS,
    freeTier: "1 million requests a month (standard and FIFO together)",
  },
  sqsStandardRequest: {
    usd: 0.4 / 1e6,
    unit: "standard request (per 64 KiB chunk)",
    source: SQS,
    freeTier: "1 million requests a month",
  },
  s3PutClassRequest: {
    usd: 0.005 / 1000,
    unit: "PUT, COPY, POST or LIST request (S3 Standard)",
    source: S3,
    freeTier: "2,000 a month, first 12 months",
  },
  s3GetClassRequest: {
    usd: 0.0004 / 1000,
    unit: "GET and all other requests (S3 Standard; DELETE is free)",
    source: S3,
    freeTier: "20,000 a month, first 12 months",
  },
  s3StorageGbMonth: {
    usd: 0.023,
    unit: "GB-month (S3 Standard, first 50 TB)",
    source: "https://cloudburn.io/blog/amazon-s3-pricing (us-east-1, March 2026)",
    freeTier: "5 GB, first 12 months",
  },
  secretMonth: {
    usd: 0.4,
    unit: "secret-month",
    source: "https://hivebook.wiki/wiki/aws-secrets-manager-rotated-secrets-dynamic-db-credentials-kms",
  },
  secretsManagerCall: {
    usd: 0.05 / 10_000,
    unit: "API call",
    source: "https://hivebook.wiki/wiki/aws-secrets-manager-rotated-secrets-dynamic-db-credentials-kms",
  },
  kmsKeyMonth: {
    usd: 1,
    unit: "customer managed key-month (+$1 for each rotated key version)",
    source: "https://aws.amazon.com/kms/pricing/",
  },
  kmsRequest: {
    usd: 0.03 / 10_000,
    unit: "symmetric request",
    source: "https://www.wring.co/blog/aws-kms-pricing-guide (the AWS page's request table was not in the stored copy)",
    freeTier: "20,000 requests a month",
  },
  eventBridgeScheduledEvent: {
    usd: 0,
    unit: "scheduled rule event (not a custom event; the Lambda invocation it causes is billed as Lambda)",
    source: `${CLOUDWATCH} (free tier: "All events except custom events are included")`,
  },
  logsIngestionGb: {
    usd: 0.5,
    unit: "GB of CloudWatch Logs ingested (standard class)",
    source: "https://www.factualminds.com/blog/amazon-cloudwatch-pricing-metrics-logs-alarms-dashboards/ (June 2026)",
    freeTier: "5 GB a month",
  },
  customMetricMonth: {
    usd: 0.3,
    unit: "custom metric-month (each name × dimension set; first 10,000)",
    source: "https://signoz.io/guides/cloudwatch-pricing (Feb 2026)",
    freeTier: "10 metrics",
  },
  alarmMonth: {
    usd: 0.1,
    unit: "standard-resolution alarm-month",
    source: "https://c3x.dev/resources/aws/aws_cloudwatch_metric_alarm",
    freeTier: "10 alarm metrics",
  },
  dashboardMonth: {
    usd: 3,
    unit: "custom dashboard-month",
    source: "https://www.factualminds.com/blog/amazon-cloudwatch-pricing-metrics-logs-alarms-dashboards/ (June 2026)",
    freeTier: "3 dashboards",
  },
  fargateVcpuHour: {
    usd: 0.04048,
    unit: "Fargate vCPU-hour (Linux/x86)",
    source: "https://www.vantage.sh/blog/fargate-pricing (us-east-1)",
  },
  fargateGbHour: {
    usd: 0.004445,
    unit: "Fargate GB-hour (Linux/x86)",
    source: "https://www.vantage.sh/blog/fargate-pricing (us-east-1)",
  },
  ec2T3SmallHour: {
    usd: 0.0208,
    unit: "t3.small instance-hour (2 vCPU, 2 GiB, Linux on-demand)",
    source: "no stored page gave it (the EC2 on-demand page was not in the store)",
    assumption: true,
  },
  ebsGp3GbMonth: {
    usd: 0.08,
    unit: "gp3 GB-month",
    source: "no stored page gave it",
    assumption: true,
  },
  eksClusterHour: {
    usd: 0.1,
    unit: "EKS cluster-hour (standard support)",
    source: "https://cloudburn.io/blog/amazon-eks-pricing (March 2026: $73 a month per cluster)",
  },
} satisfies Record<string, Price>;

export type Prices = typeof prices;
