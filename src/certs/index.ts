/**
 * Development certificates (a CA, server and client certificates) and checks of a TLS listener's
 * files. Used by `mozzie certs` and `mozzie broker --check-config`; usable from tests and programs.
 */
export {
  type CaOptions,
  type ClientCertificateOptions,
  createCa,
  DEFAULT_CA_NAME,
  type Issued,
  issueClientCertificate,
  issueServerCertificate,
  loadCa,
  type ServerCertificateOptions,
  type ValidityOptions,
} from './authority.js';
export { assertFree, caFiles, readCa, type WrittenPair, writePair } from './files.js';
export { EXPIRY_WARNING_DAYS, type Finding, inspectTlsFiles, type Severity, type TlsFiles } from './inspect.js';
export type { KeyType } from './x509.js';
