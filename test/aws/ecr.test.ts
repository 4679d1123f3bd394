import { ECRClient } from "@aws-sdk/client-ecr";
import { describe, expect, inject, it } from "vitest";
import { awsClientOptions } from "../../src/aws/clients.js";
import { ecrLogin } from "../../src/aws/ecr.js";

// OCIRepository `provider: aws`: ECR authorization tokens from the runtime's identity, asked of moto's ECR.

const aws = inject("testbed").aws;
const config = {
  region: aws.region,
  endpoint: aws.endpoint,
  credentials: async () => ({ accessKeyId: aws.accessKeyId, secretAccessKey: aws.secretAccessKey }),
};

/** moto's tokens all expire at this fixed time. */
const MOTO_EXPIRY = Date.UTC(2015, 0, 1);

/** An ecrLogin whose ECR calls are counted, on a clock the test moves (a day before moto's tokens expire). */
function counted() {
  const calls: string[] = [];
  let now = MOTO_EXPIRY - 24 * 3600_000;
  const login = ecrLogin(config, { now: () => now, sleep: async () => {} }, async (region) => {
    const client = new ECRClient(awsClientOptions({ ...config, region }));
    const send = client.send.bind(client);
    client.send = ((command: unknown) => (calls.push(region), send(command as never))) as typeof client.send;
    return client;
  });
  return { login, calls, advance: (ms: number) => (now += ms) };
}

describe(`ECR login for provider aws (${aws.version})`, () => {
  it("logs in to a registry of the ECR host form with a token of the region, asked once until it nears expiry", async () => {
    const { login, calls, advance } = counted();
    const registry = `123456789012.dkr.ecr.${aws.region}.amazonaws.com`;
    const first = await login.login("aws", registry);
    const again = await login.login("aws", registry);
    advance(24 * 3600_000 - 4 * 60_000); // within five minutes of the expiry
    await login.login("aws", registry);
    expect(first.username).toBe("AWS");
    expect(first.password.length).toBeGreaterThan(0);
    expect(again).toEqual(first);
    expect(calls).toEqual([aws.region, aws.region]);
  });

  it("refuses a registry that is not ECR's, and another provider, without asking AWS", async () => {
    const { login, calls } = counted();
    await expect(login.login("aws", "ghcr.io")).rejects.toThrow(
      "'ghcr.io' is not an ECR registry (<account>.dkr.ecr.<region>.amazonaws.com)",
    );
    await expect(login.login("aws", "123456789012.dkr.ecr.eu-west-1.amazonaws.com.evil.example")).rejects.toThrow(
      "is not an ECR registry",
    );
    await expect(login.login("gcp", "europe-docker.pkg.dev")).rejects.toThrow("provider 'gcp' is not supported");
    expect(calls).toEqual([]);
  });
});
