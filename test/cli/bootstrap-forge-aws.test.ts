import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";
import { CloudFormationClient, CreateStackCommand } from "@aws-sdk/client-cloudformation";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { afterAll, describe, expect, inject, it } from "vitest";
import { S3Store } from "../../src/aws/s3-store.js";
import { webhookPath } from "../../src/notify/receiver.js";
import { githubContract } from "./forge-contract.js";

// `sluice bootstrap github` in AWS mode (--aws-bucket) against moto: the Receiver URL comes from the deployed
// stack's WebhookUrl output (the stack found by its BucketName output), the Secrets go to Secrets Manager and
// the objects to the control plane's bucket.

const execute = promisify(execFile);
const { aws, git, sshd } = inject("testbed");
const credentials = async () => ({ accessKeyId: aws.accessKeyId, secretAccessKey: aws.secretAccessKey });
const base = { region: aws.region, endpoint: aws.endpoint, credentials };
const token = git.password;
const owner = git.username;
const github = await githubContract({ git, sshd, token, user: owner });
afterAll(() => github.close());

/** A stack with the outputs infra/stack.ts declares (moto deploys the template's queue; the outputs are literal). */
async function deployStack(name: string, outputs: Record<string, string>): Promise<void> {
  const template = {
    Resources: { Jobs: { Type: "AWS::SQS::Queue" } },
    Outputs: Object.fromEntries(Object.entries(outputs).map(([key, value]) => [key, { Value: value }])),
  };
  await new CloudFormationClient(base).send(
    new CreateStackCommand({ StackName: name, TemplateBody: JSON.stringify(template) }),
  );
}

describe("sluice bootstrap github on AWS", () => {
  it("takes the Receiver URL from the deployed stack of --aws-bucket, keeps the Secrets in Secrets Manager; a second run changes nothing", async () => {
    // Arrange
    const suffix = randomBytes(4).toString("hex");
    const bucket = `sluice-${suffix}`;
    await new S3Client({ ...base, forcePathStyle: true }).send(new CreateBucketCommand({ Bucket: bucket }));
    const api = `https://${suffix}.execute-api.${aws.region}.amazonaws.com`;
    await deployStack(`Other-${suffix}`, { BucketName: `other-${suffix}`, WebhookUrl: "https://wrong.example/hook/" });
    await deployStack(`Sluice-${suffix}`, { BucketName: bucket, WebhookUrl: `${api}/hook/` });
    const namespace = `fleet-${suffix}`;
    const repo = `aws-${suffix}`;
    const run = () =>
      execute(
        process.execPath,
        [
          ...["bin/sluice.js", "--aws-bucket", bucket, "-n", namespace, "bootstrap", "github"],
          ...["--owner", owner, "--repository", repo, "--token-auth", "--hostname", new URL(git.baseUrl).host],
          ...["--api-url", github.url, "--allow-insecure-http"],
        ],
        {
          timeout: 30_000,
          env: {
            ...process.env,
            GITHUB_TOKEN: token,
            SLUICE_AWS_ENDPOINT: aws.endpoint,
            AWS_REGION: aws.region,
            AWS_ACCESS_KEY_ID: aws.accessKeyId,
            AWS_SECRET_ACCESS_KEY: aws.secretAccessKey,
          },
        },
      ).then(
        (r) => r.stdout + r.stderr,
        (e: { stdout: string; stderr: string }) => {
          throw new Error(`sluice failed: ${e.stdout}${e.stderr}`);
        },
      );
    const secret = async (name: string) =>
      JSON.parse(
        (
          await new SecretsManagerClient(base).send(
            new GetSecretValueCommand({ SecretId: `sluice/${namespace}/${name}` }),
          )
        ).SecretString!,
      ) as Record<string, string>;
    // Act
    const first = await run();
    const writes = github.writes().length;
    const second = await run();
    // Assess
    expect(github.violations).toEqual([]);
    expect(await secret("flux-system")).toEqual({ username: "git", password: token });
    const { token: receiverToken } = await secret("flux-system-webhook-token");
    const hookUrl = `${api}${webhookPath(receiverToken!, "flux-system", namespace)}`;
    expect(github.hooks).toEqual([{ id: expect.any(Number), url: hookUrl, secret: receiverToken, events: ["push"] }]);
    const store = new S3Store(new S3Client({ ...base, forcePathStyle: true }), bucket);
    const receiver = await store.get({ kind: "Receiver", namespace, name: "flux-system" });
    expect(receiver?.object.spec).toMatchObject({ type: "github", secretRef: { name: "flux-system-webhook-token" } });
    expect(await store.get({ kind: "GitRepository", namespace, name: "flux-system" })).toBeDefined();
    expect(github.writes()).toHaveLength(writes);
    expect(first).toContain(`Receiver URL from the stack of bucket ${bucket}: ${api}/hook/`);
    expect(first + second).not.toContain(token);
  }, 120_000);
});
