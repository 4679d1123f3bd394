/**
 * The runtime's own AWS identity (the Lambda role, the environment's profile): a Bucket's `provider: aws`
 * without a secretRef reads with it, as source-controller uses its pod's identity. Absent where there is none.
 */
export interface AwsIdentity {
  /** Current credentials; the implementation refreshes them before they expire. */
  credentials(): Promise<{ accessKeyId: string; secretAccessKey: string; sessionToken?: string }>;
}
