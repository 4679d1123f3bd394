/**
 * Credentials for a cloud container registry from the runtime's own cloud identity: an OCIRepository's
 * `provider` (source-controller's OIDCAuth). Absent where the runtime has no such identity.
 */
export interface RegistryLogin {
  /** Basic credentials for `registry` (`host[:port]`); throws saying why when `provider` cannot log in there. */
  login(provider: string, registry: string): Promise<{ username: string; password: string }>;
}
