import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { CfnOutput, DockerImage, Duration, RemovalPolicy, Stack, Token, Validations } from "aws-cdk-lib";
import { HttpApi, HttpMethod, type CfnStage } from "aws-cdk-lib/aws-apigatewayv2";
import { HttpUserPoolAuthorizer } from "aws-cdk-lib/aws-apigatewayv2-authorizers";
import { HttpLambdaIntegration } from "aws-cdk-lib/aws-apigatewayv2-integrations";
import {
  AllowedMethods,
  CachePolicy,
  Distribution,
  HeadersFrameOption,
  HeadersReferrerPolicy,
  OriginRequestPolicy,
  PriceClass,
  ResponseHeadersPolicy,
  ViewerProtocolPolicy,
} from "aws-cdk-lib/aws-cloudfront";
import { HttpOrigin, S3BucketOrigin } from "aws-cdk-lib/aws-cloudfront-origins";
import {
  AccountRecovery,
  FeaturePlan,
  Mfa,
  OAuthScope,
  StandardThreatProtectionMode,
  UserPool,
  UserPoolClientIdentityProvider,
} from "aws-cdk-lib/aws-cognito";
import type { Function as LambdaFunction } from "aws-cdk-lib/aws-lambda";
import { LogGroup, RetentionDays } from "aws-cdk-lib/aws-logs";
import { BlockPublicAccess, Bucket, BucketEncryption, type CfnBucket, type IBucket } from "aws-cdk-lib/aws-s3";
import { BucketDeployment, Source } from "aws-cdk-lib/aws-s3-deployment";
import type { IQueue } from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";

/** The web UI on AWS, off unless the stack's `ui` prop is set. */
export interface SluiceUiOptions {
  /**
   * The prefix of the Cognito sign-in domain, `https://<prefix>.auth.<region>.amazoncognito.com` (unique in the
   * region; lower-case letters, digits and hyphens).
   */
  loginDomainPrefix: string;
  /** The built UI (index.html and its bundle). @default built by scripts/build-ui.ts when the app synthesizes */
  assetsDir?: string;
}

export interface SluiceUiProps extends SluiceUiOptions {
  /** The control plane's state bucket: the API reads and writes `store/` only. */
  bucket: IBucket;
  /** Where requested reconciles go, as the CLI's `--aws-queue-url`. */
  jobs: IQueue;
  /** The notify function's queue: the actions' audit events reach Alerts as the worker's events do. */
  notifications: IQueue;
  /** Where the stack keeps access logs (CloudFront's and the assets bucket's, under `ui/`). */
  accessLogs: IBucket;
  /** The worker's log group: events on AWS are log lines there, which the UI names. */
  eventsLogGroup: string;
  /** The stack's function factory (code, runtime, environment and log group as every Sluice function has). */
  makeFunction: (name: string, extra: { timeout: Duration; memorySize: number }) => LambdaFunction;
}

const PREFIX = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const root = join(import.meta.dirname, "..");

/**
 * Static assets on a private S3 bucket behind CloudFront (origin access control), and the API behind the same
 * distribution (`/api/*`, so the page calls its own origin): an HTTP API whose every route needs a Cognito access
 * token (JWT authorizer), answered by a Lambda that verifies the token again. Users are created by an administrator
 * (no self sign-up), with TOTP MFA required. The page signs in through Cognito's hosted pages (authorization code +
 * PKCE, a public client) and sends the token in `Authorization`, which no other site's page can make a browser send.
 *
 * No cycle: the distribution needs only the API's address, the app client the distribution's, and the authorizer
 * and the function the client's id.
 */
export class SluiceUi extends Construct {
  readonly url: string;

  constructor(scope: Construct, id: string, props: SluiceUiProps) {
    super(scope, id);
    if (!PREFIX.test(props.loginDomainPrefix) || props.loginDomainPrefix.includes("cognito"))
      throw new Error(
        `ui.loginDomainPrefix '${props.loginDomainPrefix}' is not a Cognito domain prefix (lower-case letters, digits, hyphens; not 'cognito')`,
      );
    const stack = Stack.of(this);
    const loginOrigin = `https://${props.loginDomainPrefix}.auth.${stack.region}.amazoncognito.com`;

    const api = new HttpApi(this, "Api", {
      description: "Sluice web UI API, behind the UI's CloudFront distribution: every route needs a Cognito token",
    });
    const assets = new Bucket(this, "Assets", {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      encryption: BucketEncryption.S3_MANAGED,
      serverAccessLogsBucket: props.accessLogs,
      serverAccessLogsPrefix: "ui-assets/",
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const distribution = new Distribution(this, "Cdn", {
      comment: "Sluice web UI",
      defaultBehavior: {
        origin: S3BucketOrigin.withOriginAccessControl(assets),
        viewerProtocolPolicy: ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        responseHeadersPolicy: securityHeaders(this, loginOrigin),
      },
      additionalBehaviors: {
        "/api/*": {
          origin: new HttpOrigin(`${api.apiId}.execute-api.${stack.region}.${stack.urlSuffix}`),
          viewerProtocolPolicy: ViewerProtocolPolicy.HTTPS_ONLY,
          allowedMethods: AllowedMethods.ALLOW_ALL,
          cachePolicy: CachePolicy.CACHING_DISABLED,
          // Authorization and Origin reach the API; Host is the API's own (API Gateway routes by it).
          originRequestPolicy: OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
        },
      },
      defaultRootObject: "index.html",
      // Deep links (/objects/…) are the single page's routes: S3 answers 403 for a key it does not have.
      errorResponses: [{ httpStatus: 403, responseHttpStatus: 200, responsePagePath: "/index.html" }],
      priceClass: PriceClass.PRICE_CLASS_100,
      enableLogging: true,
      logBucket: props.accessLogs,
      logFilePrefix: "ui-cdn/",
    });
    const origin = `https://${distribution.distributionDomainName}`;

    const users = new UserPool(this, "Users", {
      selfSignUpEnabled: false,
      signInAliases: { username: true, email: true },
      mfa: Mfa.REQUIRED,
      mfaSecondFactor: { otp: true, sms: false },
      passwordPolicy: {
        minLength: 14,
        requireLowercase: true,
        requireUppercase: true,
        requireDigits: true,
        requireSymbols: true,
      },
      accountRecovery: AccountRecovery.EMAIL_ONLY,
      featurePlan: FeaturePlan.PLUS,
      standardThreatProtectionMode: StandardThreatProtectionMode.FULL_FUNCTION,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    users.addDomain("Login", { cognitoDomain: { domainPrefix: props.loginDomainPrefix } });
    const client = users.addClient("Browser", {
      generateSecret: false,
      authFlows: { userSrp: true },
      oAuth: {
        flows: { authorizationCodeGrant: true },
        scopes: [OAuthScope.OPENID],
        callbackUrls: [`${origin}/`],
        logoutUrls: [`${origin}/`],
      },
      supportedIdentityProviders: [UserPoolClientIdentityProvider.COGNITO],
      accessTokenValidity: Duration.hours(1),
      idTokenValidity: Duration.hours(1),
      refreshTokenValidity: Duration.hours(12),
      preventUserExistenceErrors: true,
      enableTokenRevocation: true,
    });

    const fn = props.makeFunction("Ui", { timeout: Duration.seconds(10), memorySize: 512 });
    fn.addEnvironment("SLUICE_UI_ISSUER", `https://cognito-idp.${stack.region}.${stack.urlSuffix}/${users.userPoolId}`);
    fn.addEnvironment("SLUICE_UI_CLIENT_ID", client.userPoolClientId);
    fn.addEnvironment("SLUICE_UI_ORIGIN", origin);
    fn.addEnvironment("SLUICE_EVENTS_LOG_GROUP", props.eventsLogGroup);
    // Reads the Store; writes it only for the actions (requestedAt, spec.suspend); sends the reconcile request.
    props.bucket.grantRead(fn, "store/*");
    props.bucket.grantPut(fn, "store/*");
    props.jobs.grantSendMessages(fn);
    props.notifications.grantSendMessages(fn);
    api.addRoutes({
      path: "/api/{proxy+}",
      methods: [HttpMethod.GET, HttpMethod.POST],
      integration: new HttpLambdaIntegration("UiApi", fn),
      authorizer: new HttpUserPoolAuthorizer("Cognito", users, { userPoolClients: [client] }),
    });
    accessLogged(this, api);

    // The page learns where to sign in at run time (the bundle is the same everywhere).
    const publish = new BucketDeployment(this, "Publish", {
      sources: [
        props.assetsDir ? Source.asset(props.assetsDir) : builtAssets(),
        Source.jsonData("config.json", {
          login: loginOrigin,
          clientId: client.userPoolClientId,
          eventsLogGroup: props.eventsLogGroup,
        }),
      ],
      destinationBucket: assets,
      distribution,
      distributionPaths: ["/*"],
      memoryLimit: 256,
    });

    this.url = origin;
    new CfnOutput(stack, "UiUrl", { value: origin, description: "the Sluice web UI (users of UiUserPool sign in)" });
    new CfnOutput(stack, "UiUserPool", {
      value: users.userPoolId,
      description: "aws cognito-idp admin-create-user --user-pool-id <this> --username <name>",
    });
    acknowledgeUiFindings(this, fn, stack.getLogicalId(props.bucket.node.defaultChild as CfnBucket));
    acknowledgePublishFindings(publish, stack.getLogicalId(assets.node.defaultChild as CfnBucket));
  }
}

/** The app and its Cognito sign-in, bundled by scripts/build-ui.ts with the project's esbuild (no Docker). */
function builtAssets() {
  return Source.asset(join(root, "src", "ui"), {
    bundling: {
      image: DockerImage.fromRegistry("public.ecr.aws/docker/library/node:24"), // required by the type; never used
      local: {
        tryBundle(outputDir) {
          execFileSync(process.execPath, ["--import", "tsx", join(root, "scripts", "build-ui.ts"), outputDir], {
            cwd: root,
            stdio: "inherit",
          });
          return true;
        },
      },
    },
  });
}

/** The page's own bundle only; data from its origin, sign-in from Cognito's domain; never framed. */
function securityHeaders(scope: Construct, loginOrigin: string): ResponseHeadersPolicy {
  return new ResponseHeadersPolicy(scope, "Headers", {
    securityHeadersBehavior: {
      contentSecurityPolicy: {
        contentSecurityPolicy: [
          "default-src 'self'",
          `connect-src 'self' ${loginOrigin}`,
          "img-src 'self' data:",
          "frame-ancestors 'none'",
          "base-uri 'none'",
          `form-action 'self' ${loginOrigin}`,
        ].join("; "),
        override: true,
      },
      strictTransportSecurity: { accessControlMaxAge: Duration.days(365), includeSubdomains: true, override: true },
      frameOptions: { frameOption: HeadersFrameOption.DENY, override: true },
      contentTypeOptions: { override: true },
      referrerPolicy: { referrerPolicy: HeadersReferrerPolicy.NO_REFERRER, override: true },
    },
  });
}

/** Throttled, and every request logged with the user the authorizer verified: the audit trail beside the events. */
function accessLogged(scope: Construct, api: HttpApi): void {
  const logs = new LogGroup(scope, "ApiAccessLogs", {
    retention: RetentionDays.ONE_YEAR,
    removalPolicy: RemovalPolicy.RETAIN,
  });
  const stage = api.defaultStage!.node.defaultChild as CfnStage;
  stage.defaultRouteSettings = { throttlingRateLimit: 20, throttlingBurstLimit: 40 };
  stage.accessLogSettings = {
    destinationArn: logs.logGroupArn,
    format: JSON.stringify({
      requestId: "$context.requestId",
      time: "$context.requestTime",
      ip: "$context.identity.sourceIp",
      user: "$context.authorizer.claims.username",
      method: "$context.httpMethod",
      path: "$context.path",
      status: "$context.status",
      authorizerError: "$context.authorizer.error",
    }),
  };
}

/** cdk-nag findings of the UI that are deliberate, each with its reason. */
function acknowledgeUiFindings(ui: SluiceUi, fn: LambdaFunction, bucketId: string): void {
  Validations.of(ui).acknowledge(
    {
      id: "AwsSolutions::AwsSolutions-CFR1",
      reason: "Operators of a fleet sign in from anywhere; every request needs a Cognito session with MFA.",
    },
    {
      id: "AwsSolutions::AwsSolutions-CFR2",
      reason:
        "The distribution serves public static files (the bundle holds no data) and the API, which needs a token and is throttled; a WAF web ACL ($5+/month) would add rate rules only.",
    },
    {
      id: "AwsSolutions::AwsSolutions-CFR4",
      reason:
        "The default *.cloudfront.net certificate, whose security policy CloudFront sets; a custom domain with its ACM certificate lifts it to TLSv1.2_2021.",
    },
  );
  Validations.of(fn).acknowledge(
    {
      id: "AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
      reason: "The AWS-managed Lambda execution policy only lets the function write its own logs.",
    },
    ...["s3:GetObject*", "s3:GetBucket*", "s3:List*", "s3:Abort*", "kms:GenerateDataKey*", "kms:ReEncrypt*"].map(
      (action) => ({
        id: `AwsSolutions::AwsSolutions-IAM5[Action::${action}]`,
        reason:
          "CDK's S3, KMS and SQS grant methods emit these action groups; they apply only to this stack's bucket and key.",
      }),
    ),
    {
      id: `AwsSolutions::AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/store/*]`,
      reason: "The Store's prefix of the state bucket: the UI reads objects and writes only the actions' changes.",
    },
  );
}

/** CDK's BucketDeployment copies the built assets into the assets bucket once per deploy, with its own function. */
function acknowledgePublishFindings(publish: BucketDeployment, assetsId: string): void {
  const stack = Stack.of(publish);
  // An environment-agnostic stack has tokens there; cdk-nag prints them as pseudo parameters.
  const literal = (value: string, pseudo: string) => (Token.isUnresolved(value) ? `<${pseudo}>` : value);
  const staging = `cdk-hnb659fds-assets-${literal(stack.account, "AWS::AccountId")}-${literal(stack.region, "AWS::Region")}`;
  const reason =
    "CDK's BucketDeployment function: at deploy time only, it reads the UI's asset from CDK's staging bucket, replaces the UI assets bucket's files and invalidates the distribution.";
  Validations.of(publish.handlerRole).acknowledge(
    ...[
      "IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
      ...["s3:GetObject*", "s3:GetBucket*", "s3:List*", "s3:DeleteObject*", "s3:Abort*"].map(
        (a) => `IAM5[Action::${a}]`,
      ),
      `IAM5[Resource::<${assetsId}.Arn>/*]`,
      `IAM5[Resource::arn:<AWS::Partition>:s3:::${staging}/*]`,
      // CloudFront's CreateInvalidation and GetInvalidation, which CDK grants on every distribution.
      "IAM5[Resource::*]",
    ].map((finding) => ({ id: `AwsSolutions::AwsSolutions-${finding}`, reason })),
  );
}
