import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { type CertificateRole, certificatePem, createCertificate, generateKeyPair, type KeyType, privateKeyPem } from './x509.js';

/**
 * A development certificate authority: creates a CA, then server and client certificates signed by it,
 * so TLS and mutual TLS can be tried in a minute. Not a production PKI: keys are unencrypted files.
 */

const DAY_MS = 86_400_000;
/** Certificates start a little in the past so a clock slightly behind does not reject them. */
const BACKDATE_MS = 5 * 60_000;

/** A certificate with its private key, as PEM text and as parsed objects. */
export interface Issued {
  readonly certificatePem: string;
  readonly keyPem: string;
  readonly certificate: X509Certificate;
  readonly privateKey: KeyObject;
}

export interface ValidityOptions {
  /** Days from now (default: 3650 for a CA, 365 otherwise). Ignored when notAfter is given. */
  readonly days?: number;
  /** Explicit bounds, e.g. for expired or not-yet-valid test certificates. */
  readonly notBefore?: Date;
  readonly notAfter?: Date;
  /** Default ec (ECDSA P-256). */
  readonly keyType?: KeyType;
}

export interface CaOptions extends ValidityOptions {
  /** Default "Mozzie Development CA". */
  readonly commonName?: string;
  readonly organization?: string;
}

export interface ServerCertificateOptions extends ValidityOptions {
  /** DNS names and IP addresses clients use to reach the broker; at least one. */
  readonly hosts: readonly string[];
  /** Default: the first host. */
  readonly commonName?: string;
  readonly organization?: string;
}

export interface ClientCertificateOptions extends ValidityOptions {
  /** The client's name: with `identityFrom: cn` it becomes the MQTT username. */
  readonly commonName: string;
  readonly organization?: string;
}

export const DEFAULT_CA_NAME = 'Mozzie Development CA';

export function createCa(options: CaOptions = {}): Issued {
  const keys = generateKeyPair(options.keyType ?? 'ec');
  const [notBefore, notAfter] = validity(options, 3650);
  const der = createCertificate({
    role: 'ca',
    commonName: options.commonName ?? DEFAULT_CA_NAME,
    ...(options.organization === undefined ? {} : { organization: options.organization }),
    publicKey: keys.publicKey,
    selfKey: keys.privateKey,
    notBefore,
    notAfter,
  });
  return issued(der, keys.privateKey);
}

export function issueServerCertificate(ca: Issued, options: ServerCertificateOptions): Issued {
  const first = options.hosts[0];
  if (first === undefined) throw new Error('a server certificate needs at least one host name or IP address');
  return issue(ca, 'server', options.commonName ?? first, options.hosts, options);
}

export function issueClientCertificate(ca: Issued, options: ClientCertificateOptions): Issued {
  if (options.commonName === '') throw new Error('a client certificate needs a common name');
  return issue(ca, 'client', options.commonName, [], options);
}

function issue(
  ca: Issued,
  role: CertificateRole,
  commonName: string,
  hosts: readonly string[],
  options: ValidityOptions & { readonly organization?: string },
): Issued {
  const keys = generateKeyPair(options.keyType ?? 'ec');
  const [notBefore, notAfter] = validity(options, 365);
  const der = createCertificate({
    role,
    commonName,
    ...(options.organization === undefined ? {} : { organization: options.organization }),
    hosts,
    publicKey: keys.publicKey,
    issuer: { certificate: ca.certificate, privateKey: ca.privateKey },
    notBefore,
    notAfter,
  });
  return issued(der, keys.privateKey);
}

/** A CA from its PEM certificate and key; checks that it is a CA and that the key belongs to it. */
export function loadCa(certPem: string | Buffer, keyPem: string | Buffer, passphrase?: string): Issued {
  const certificate = new X509Certificate(certPem);
  if (!certificate.ca) throw new Error(`${certificate.subject.replaceAll('\n', ', ')} is not a CA certificate`);
  const privateKey = createPrivateKey(passphrase === undefined ? { key: keyPem } : { key: keyPem, passphrase });
  if (!certificate.checkPrivateKey(privateKey)) throw new Error('the CA key does not belong to the CA certificate');
  return { certificatePem: certificate.toString(), keyPem: privateKeyPem(privateKey), certificate, privateKey };
}

function issued(der: Buffer, privateKey: KeyObject): Issued {
  const certificate = new X509Certificate(der);
  // A cheap self-check: a certificate whose key does not match would only fail later, in a handshake.
  if (!certificate.checkPrivateKey(privateKey)) throw new Error('internal error: certificate and key do not match');
  return { certificatePem: certificatePem(der), keyPem: privateKeyPem(privateKey), certificate, privateKey };
}

function validity(options: ValidityOptions, defaultDays: number): [Date, Date] {
  const now = Date.now();
  const notBefore = options.notBefore ?? new Date(now - BACKDATE_MS);
  const days = options.days ?? defaultDays;
  if (options.notAfter === undefined && (!Number.isFinite(days) || days <= 0)) throw new Error('days must be a positive number');
  const notAfter = options.notAfter ?? new Date(now + days * DAY_MS);
  if (notAfter.getTime() <= notBefore.getTime()) throw new Error('notAfter must be later than notBefore');
  return [notBefore, notAfter];
}
