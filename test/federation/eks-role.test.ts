import { randomBytes } from "node:crypto";
import { CreateClusterCommand, EKSClient } from "@aws-sdk/client-eks";
import { AssumeRoleCommand, STSClient } from "@aws-sdk/client-sts";
import type { AwsCredentialIdentityProvider } from "@smithy/types";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { EksAccess } from "../../src/aws/eks.js";
import { systemClock } from "../../src/ports/clock.js";

const aws = inject("testbed").aws;
const worker: AwsCredentialIdentityProvider = async () => ({
  accessKeyId: aws.accessKeyId,
  secretAccessKey: aws.secretAccessKey,
});
const emulator = { region: aws.region, endpoint: aws.endpoint };
const eksClient = (region: string, credentials: AwsCredentialIdentityProvider) =>
  new EKSClient({ ...emulator, region, credentials });
/** The other account's role the worker may assume (moto maps an assumed role's keys to the role's account). */
const roleArn = "arn:aws:iam::111111111111:role/sluice-deployer";

/** STS as the worker, counting the AssumeRole calls that reach it. */
function countingSts(): { sts: STSClient; assumed: () => number } {
  const sts = new STSClient({ ...emulator, credentials: worker });
  let calls = 0;
  sts.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === "AssumeRoleCommand") calls++;
      return next(args);
    },
    { step: "initialize" },
  );
  return { sts, assumed: () => calls };
}

function tokenQuery(token: string): URLSearchParams {
  return new URL(Buffer.from(token.slice("k8s-aws-v1.".length), "base64url").toString()).searchParams;
}

describe(`EKS clusters in other accounts: an assumable role per registration (${aws.version})`, () => {
  const names = [`prod-${randomBytes(3).toString("hex")}`, `prod-${randomBytes(3).toString("hex")}`];

  beforeAll(async () => {
    // The clusters live in account 111111111111: create them as that account's role.
    const sts = new STSClient({ ...emulator, credentials: worker });
    const { Credentials: c } = await sts.send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: "setup" }));
    const owner = eksClient(aws.region, async () => ({
      accessKeyId: c!.AccessKeyId!,
      secretAccessKey: c!.SecretAccessKey!,
      sessionToken: c!.SessionToken,
    }));
    for (const name of names) {
      await owner.send(
        new CreateClusterCommand({
          name,
          roleArn: "arn:aws:iam::111111111111:role/eks",
          resourcesVpcConfig: { subnetIds: ["subnet-1"] },
        }),
      );
    }
  });

  it("describes the cluster and signs its token as the assumed role, which the worker's own identity cannot", async () => {
    // Prepare
    const { sts } = countingSts();
    const access = new EksAccess({
      region: aws.region,
      credentials: worker,
      sts,
      eksClient,
      clock: systemClock,
      stsEndpoint: () => aws.endpoint,
    });
    // Act
    const target = await access.target({ name: names[0]!, roleArn });
    const asWorker = await access.target({ name: names[0]! }).catch((error: Error) => error);
    // Assess
    expect(target.server).toMatch(
      new RegExp(`^https://[A-Za-z0-9]+\\.[A-Za-z0-9]+\\.${aws.region}\\.eks\\.amazonaws\\.com/$`),
    );
    const query = tokenQuery(target.token);
    expect(query.get("X-Amz-Credential")).toMatch(new RegExp(`^ASIA[A-Z0-9]+/\\d{8}/${aws.region}/sts/aws4_request$`));
    expect(query.get("X-Amz-Security-Token")).toBeTruthy();
    const notFound = new RegExp(`^EKS cluster ${names[0]} \\(${aws.region}\\): DescribeCluster failed: .*${names[0]}`);
    expect(asWorker).toMatchObject({ message: expect.stringMatching(notFound) });
  });

  it("assumes the role once for every cluster behind it, and again only when its credentials near expiry", async () => {
    // Prepare: a clock the test moves
    let now = Date.now();
    const { sts, assumed } = countingSts();
    const clock = { now: () => now, sleep: async () => {} };
    const access = new EksAccess({
      region: aws.region,
      credentials: worker,
      sts,
      eksClient,
      clock,
      stsEndpoint: () => aws.endpoint,
    });
    // Act + Assess: concurrent first uses share one AssumeRole
    const [first, second] = await Promise.all(names.map((name) => access.target({ name, roleArn })));
    expect(assumed()).toBe(1);
    expect(tokenQuery(first!.token).get("X-Amz-Credential")!.split("/")[0]).toBe(
      tokenQuery(second!.token).get("X-Amz-Credential")!.split("/")[0],
    );
    // Tokens are re-signed after 10 minutes; the role's hour-long credentials still serve
    now += 11 * 60_000;
    const resigned = await access.target({ name: names[0]!, roleArn });
    expect(resigned.token).not.toBe(first!.token);
    expect(assumed()).toBe(1);
    // Within 15 minutes of their expiry (a token's life) they are renewed
    now += 35 * 60_000;
    const renewed = await access.target({ name: names[0]!, roleArn });
    expect(assumed()).toBe(2);
    expect(tokenQuery(renewed.token).get("X-Amz-Credential")!.split("/")[0]).not.toBe(
      tokenQuery(first!.token).get("X-Amz-Credential")!.split("/")[0],
    );
  });
});
