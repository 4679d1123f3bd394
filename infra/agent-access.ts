import { CfnJson, CfnOutput, Validations } from "aws-cdk-lib";
import { CfnPodIdentityAssociation } from "aws-cdk-lib/aws-eks";
import {
  CompositePrincipal,
  Effect,
  PolicyStatement,
  Role,
  ServicePrincipal,
  WebIdentityPrincipal,
  type IOpenIdConnectProvider,
  type IPrincipal,
} from "aws-cdk-lib/aws-iam";
import type { IKey } from "aws-cdk-lib/aws-kms";
import type { CfnBucket, IBucket } from "aws-cdk-lib/aws-s3";
import { Construct } from "constructs";
import { channelPrefixes } from "../src/aws/s3-bundle-channel.js";

export interface SluiceAgentAccessProps {
  /** The registered cluster name (`sluice create cluster NAME --mode agent`). */
  cluster: string;
  /** The control plane's state bucket and the KMS key it is encrypted with. */
  bucket: IBucket;
  bucketKey: IKey;
  /** EKS cluster to associate the role with through EKS Pod Identity (service account sluice-system/sluice-agent). */
  podIdentityCluster?: string;
  /** IRSA instead: the cluster's OIDC provider (service account sluice-system/sluice-agent). */
  oidcProvider?: IOpenIdConnectProvider;
  /** For HMAC-signed bundles: the secret holding this cluster's own key (`hmac:<id with {cluster}>`, expanded); KMS needs none. */
  hmacSecretArn?: string;
  /** KMS keys SOPS files are encrypted to, which this agent decrypts (age keys need no AWS permission). */
  sopsKmsKeyArns?: string[];
}

const SERVICE_ACCOUNT = { namespace: "sluice-system", name: "sluice-agent" };

/**
 * The IAM role of one cluster's pull agent: it reads only `bundles/<cluster>/` and writes only
 * `status/<cluster>/` of the state bucket. It cannot see other clusters' bundles, the Store, source
 * artifacts or the queue, and cannot sign bundles (it has no kms:Sign).
 */
export class SluiceAgentAccess extends Construct {
  readonly role: Role;

  constructor(scope: Construct, id: string, props: SluiceAgentAccessProps) {
    super(scope, id);
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(props.cluster))
      throw new Error(
        `SluiceAgentAccess cluster '${props.cluster}': must be a lowercase DNS label (it becomes an S3 prefix)`,
      );
    const principals: IPrincipal[] = [new ServicePrincipal("pods.eks.amazonaws.com").withSessionTags()];
    if (props.oidcProvider) {
      const issuer = props.oidcProvider.openIdConnectProviderIssuer;
      // The issuer is known at deploy time only; CfnJson lets it be a condition key.
      const subject = new CfnJson(this, "IrsaSubject", {
        value: {
          [`${issuer}:sub`]: `system:serviceaccount:${SERVICE_ACCOUNT.namespace}:${SERVICE_ACCOUNT.name}`,
          [`${issuer}:aud`]: "sts.amazonaws.com",
        },
      });
      principals.push(new WebIdentityPrincipal(props.oidcProvider.openIdConnectProviderArn, { StringEquals: subject }));
    }
    this.role = new Role(this, "Role", {
      assumedBy: new CompositePrincipal(...principals),
      description: `Sluice pull agent of cluster ${props.cluster}`,
    });
    const { bundles, status } = channelPrefixes(props.cluster);
    this.role.addToPolicy(
      new PolicyStatement({ actions: ["s3:GetObject"], resources: [props.bucket.arnForObjects(`${bundles}*`)] }),
    );
    // No DeleteObject: the agent only overwrites its reports (a withdrawal leaves a tombstone that keeps the replay mark).
    this.role.addToPolicy(
      new PolicyStatement({
        actions: ["s3:GetObject", "s3:PutObject"],
        resources: [props.bucket.arnForObjects(`${status}*`)],
      }),
    );
    // Listing its own prefixes lets a missing key answer 404 rather than 403, and the agent resume.
    this.role.addToPolicy(
      new PolicyStatement({
        actions: ["s3:ListBucket"],
        resources: [props.bucket.bucketArn],
        conditions: { StringLike: { "s3:prefix": [`${bundles}*`, `${status}*`] } },
      }),
    );
    this.role.addToPolicy(
      new PolicyStatement({
        actions: ["kms:Decrypt", "kms:GenerateDataKey"],
        resources: [props.bucketKey.keyArn],
        conditions: { StringEquals: { "kms:ViaService": `s3.${props.bucket.stack.region}.amazonaws.com` } },
      }),
    );
    if (props.sopsKmsKeyArns?.length)
      this.role.addToPolicy(new PolicyStatement({ actions: ["kms:Decrypt"], resources: props.sopsKmsKeyArns }));
    if (props.hmacSecretArn)
      this.role.addToPolicy(
        new PolicyStatement({
          effect: Effect.ALLOW,
          actions: ["secretsmanager:GetSecretValue"],
          resources: [props.hmacSecretArn],
        }),
      );
    if (props.podIdentityCluster) {
      new CfnPodIdentityAssociation(this, "PodIdentity", {
        clusterName: props.podIdentityCluster,
        namespace: SERVICE_ACCOUNT.namespace,
        serviceAccount: SERVICE_ACCOUNT.name,
        roleArn: this.role.roleArn,
      });
    }
    new CfnOutput(this, "RoleArn", {
      value: this.role.roleArn,
      description: `sluice agent install --cluster ${props.cluster} --role-arn (IRSA)`,
    });
    const bucketId = props.bucket.stack.getLogicalId(props.bucket.node.defaultChild as CfnBucket);
    Validations.of(this.role).acknowledge(
      {
        id: `AwsSolutions::AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/${bundles}*]`,
        reason: "The agent reads the bundles of its own cluster only (a key prefix of the state bucket).",
      },
      {
        id: `AwsSolutions::AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/${status}*]`,
        reason: "The agent writes the status of its own cluster only (a key prefix of the state bucket).",
      },
    );
  }
}
