/** Who a credential check identified: the id sessions are kept under, and the user's roles. */
export interface VerifiedUser {
  userId: string;
  roles: string[];
}

/**
 * Where logins are checked: the built-in `UserDirectory` or an
 * `UpstreamCredentials` service. Null means a failed login (unknown user or
 * wrong password, never said which); a source that cannot answer throws.
 */
export interface CredentialSource {
  verify(username: string, password: string): Promise<VerifiedUser | null>;
}
