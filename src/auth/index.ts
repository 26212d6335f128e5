/** Identity and access control: password file, ACL file, SCRAM-SHA-256 (server method and client helper). */
export { type Access, Acl, type AclSubject, type ParsedAcl } from './acl.js';
export { FileAuth, type FileAuthOptions } from './file-auth.js';
export { filtersIntersect, filterWithin } from './filters.js';
export { ConcurrencyLimiter } from './limiter.js';
export { formatScramEntry, type ParsedPasswordFile, type PasswordEntry, parsePasswordFile, userNameProblem } from './password-file.js';
export { type PasswordCheck, PasswordStore, type PasswordStoreOptions, verify as verifyPassword } from './passwords.js';
export {
  DEFAULT_SCRAM_ITERATIONS,
  deriveCredentials,
  MIN_SCRAM_ITERATIONS,
  SCRAM_SHA_256,
  type ScramCredentials,
  saslPrep,
} from './scram.js';
export { type ScramClient, type ScramClientOptions, scramClient } from './scram-client.js';
export { scramSha256Method } from './scram-method.js';
