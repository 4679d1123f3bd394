import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { App, Validations } from "aws-cdk-lib";
import { Match, Template } from "aws-cdk-lib/assertions";
import { AwsSolutionsChecks } from "cdk-nag";
import { describe, expect, it } from "vitest";
import { SluiceStack } from "./stack.js";

// The web UI's deployment (off unless `ui` is set): what the template must hold for no anonymous access, with
// cdk-nag's AwsSolutions pack on the synth.

const env = { account: "123456789012", region: "eu-west-1" };
const assetsDir = mkdtempSync(join(tmpdir(), "sluice-ui-assets-"));
writeFileSync(join(assetsDir, "index.html"), "<!doctype html><title>Sluice</title>");
// No bundling: the template is what is checked; cdk-nag runs on synth.
const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
const stack = new SluiceStack(app, "SluiceUi", {
  cluster: "eks:prod",
  env,
  ui: { loginDomainPrefix: "acme-sluice", assetsDir },
});
const template = Template.fromStack(stack);
const resources = (type: string) => Object.entries(template.findResources(type));

describe("web UI on AWS (aws-cdk-lib, cdk-nag AwsSolutions)", () => {
  it("synthesises with every cdk-nag finding fixed or acknowledged with a reason", () => {
    expect(() => app.synth()).not.toThrow();
  }, 120_000);

  it("is off by default: no user pool, distribution or fifth function", () => {
    const plain = Template.fromStack(
      new SluiceStack(new App({ context: { "aws:cdk:bundling-stacks": [] } }), "Plain", { cluster: "eks:prod", env }),
    );
    plain.resourceCountIs("AWS::Cognito::UserPool", 0);
    plain.resourceCountIs("AWS::CloudFront::Distribution", 0);
    plain.resourceCountIs("AWS::Lambda::Function", 4);
  });

  it("signs in only users an administrator created, with TOTP MFA, on the Plus plan's threat protection", () => {
    template.hasResourceProperties("AWS::Cognito::UserPool", {
      AdminCreateUserConfig: { AllowAdminCreateUserOnly: true },
      MfaConfiguration: "ON",
      EnabledMfas: ["SOFTWARE_TOKEN_MFA"],
      UserPoolTier: "PLUS",
      UserPoolAddOns: { AdvancedSecurityMode: "ENFORCED" },
    });
    template.hasResourceProperties("AWS::Cognito::UserPoolDomain", { Domain: "acme-sluice" });
    template.hasResourceProperties("AWS::Cognito::UserPoolClient", {
      GenerateSecret: false,
      AllowedOAuthFlows: ["code"],
      AllowedOAuthFlowsUserPoolClient: true,
      SupportedIdentityProviders: ["COGNITO"],
      CallbackURLs: [
        { "Fn::Join": ["", ["https://", { "Fn::GetAtt": [Match.stringLikeRegexp("^WebUiCdn"), "DomainName"] }, "/"]] },
      ],
      AccessTokenValidity: 60,
      EnableTokenRevocation: true,
      PreventUserExistenceErrors: "ENABLED",
    });
  });

  it("has no API route without the Cognito JWT authorizer for the UI's client", () => {
    const routes = resources("AWS::ApiGatewayV2::Route").filter(([id]) => id.startsWith("WebUiApi"));
    expect(routes.map(([, r]) => (r as { Properties: { RouteKey: string } }).Properties.RouteKey).sort()).toEqual([
      "GET /api/{proxy+}",
      "POST /api/{proxy+}",
    ]);
    for (const [, route] of routes)
      expect(route).toMatchObject({
        Properties: { AuthorizationType: "JWT", AuthorizerId: { Ref: expect.any(String) } },
      });
    template.hasResourceProperties("AWS::ApiGatewayV2::Authorizer", {
      AuthorizerType: "JWT",
      IdentitySource: ["$request.header.Authorization"],
      JwtConfiguration: {
        Audience: [{ Ref: Match.stringLikeRegexp("^WebUiUsersBrowser") }],
        Issuer: Match.objectLike({
          "Fn::Join": Match.arrayWith([Match.arrayWith([Match.stringLikeRegexp("cognito-idp")])]),
        }),
      },
    });
  });

  it("serves the assets from a private bucket through origin access control, and /api/* uncached over HTTPS", () => {
    template.resourceCountIs("AWS::CloudFront::OriginAccessControl", 1);
    const [assetsId] = resources("AWS::S3::Bucket").find(([id]) => id.startsWith("WebUiAssets"))!;
    template.hasResourceProperties("AWS::S3::Bucket", {
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      LoggingConfiguration: Match.objectLike({ LogFilePrefix: "ui-assets/" }),
    });
    template.hasResourceProperties("AWS::S3::BucketPolicy", {
      Bucket: { Ref: assetsId },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: "s3:GetObject",
            Principal: { Service: "cloudfront.amazonaws.com" },
            Condition: { StringEquals: { "AWS:SourceArn": Match.anyValue() } },
          }),
        ]),
      },
    });
    template.hasResourceProperties("AWS::CloudFront::Distribution", {
      DistributionConfig: Match.objectLike({
        DefaultCacheBehavior: Match.objectLike({ ViewerProtocolPolicy: "redirect-to-https" }),
        CacheBehaviors: [
          Match.objectLike({
            PathPattern: "/api/*",
            ViewerProtocolPolicy: "https-only",
            // CloudFront's managed CachingDisabled policy.
            CachePolicyId: "4135ea2d-6df8-44a3-9df3-4b5a84be39ad",
          }),
        ],
        Logging: Match.objectLike({ Prefix: "ui-cdn/" }),
      }),
    });
  });

  it("gives the API function the pool's issuer and client, and the Store and queues only", () => {
    type Fn = { Properties: { Environment?: { Variables: Record<string, unknown> } } };
    const [fnId, fn] = resources("AWS::Lambda::Function").find(
      ([, f]) => (f as Fn).Properties.Environment?.Variables.SLUICE_UI_ISSUER !== undefined,
    )!;
    expect(fnId).toMatch(/^Ui/);
    expect(JSON.stringify(fn)).toMatch(/SLUICE_UI_CLIENT_ID/);
    const policies = resources("AWS::IAM::Policy").filter(([id]) => id.startsWith("UiServiceRoleDefaultPolicy"));
    type Statement = { Action: string | string[]; Resource: unknown };
    type Policy = { Properties: { PolicyDocument: { Statement: Statement[] } } };
    const statements = policies.flatMap(([, p]) => (p as Policy).Properties.PolicyDocument.Statement);
    const s3 = statements.filter((s) => [s.Action].flat().some((a) => a.startsWith("s3:")));
    expect(s3.length).toBeGreaterThan(0);
    for (const statement of s3) expect(JSON.stringify(statement.Resource)).toMatch(/\/store\/\*"/);
    const actions = statements.flatMap((s) => [s.Action].flat());
    expect(
      actions.filter((a) => a.startsWith("secretsmanager:") || a.startsWith("eks:") || a === "s3:DeleteObject*"),
    ).toEqual([]);
  });

  it("refuses a login domain prefix Cognito would not take", () => {
    for (const loginDomainPrefix of ["Acme", "my-cognito-ui", "-x", "a_b"])
      expect(
        () =>
          new SluiceStack(new App({ context: { "aws:cdk:bundling-stacks": [] } }), "Bad", {
            cluster: "eks:prod",
            env,
            ui: { loginDomainPrefix, assetsDir },
          }),
      ).toThrow(/is not a Cognito domain prefix/);
  });
});
