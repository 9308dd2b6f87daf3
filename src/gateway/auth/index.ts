export type { CredentialSource, VerifiedUser } from './credentials.js';
export {
  AuthUpstreamUnavailableError,
  LoginFailedError,
  PasswordPolicyError,
  UserExistsError,
  UserNotFoundError,
} from './errors.js';
export {
  attemptLogin,
  type LoginAttempt,
  type LoginGuards,
  type LoginLimiters,
  type LoginOutcome,
} from './login-attempt.js';
export {
  LoginChallenges,
  type LoginChallengesOptions,
  leadingZeroBits,
  type ProofOfWork,
  type ProofOfWorkChallenge,
  type ProofRejection,
  proofDigest,
} from './login-challenge.js';
export {
  hashPassword,
  needsRehash,
  PASSWORD_POLICY,
  SCRYPT_DEFAULTS,
  type ScryptParameters,
  verifyPassword,
} from './passwords.js';
export { type AuthRoutesDeps, registerAuthRoutes } from './routes.js';
export {
  UpstreamCredentials,
  type UpstreamCredentialsOptions,
} from './upstream-credentials.js';
export { UserLifecycle, type UserLifecycleOptions } from './user-lifecycle.js';
export { presentUser, registerUserAdminRoutes } from './user-routes.js';
export { usernameKey } from './username.js';
export {
  normalizeRoles,
  normalizeUsername,
  USER_COLLECTION,
  type User,
  UserDirectory,
  type UserDirectoryOptions,
} from './users.js';
