import type { Buffer } from 'node:buffer';
import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { isIP } from 'node:net';

/**
 * Checks the certificate files of a TLS listener before the broker needs them: they exist and parse,
 * the key belongs to the certificate, nothing has expired (or will within 30 days), the chain is in
 * order and the certificate names the host clients connect to. Findings never contain key material or
 * passphrases.
 */

export type Severity = 'ok' | 'info' | 'warn' | 'error';

export interface Finding {
  readonly severity: Severity;
  readonly text: string;
}

export interface TlsFiles {
  readonly cert: string;
  readonly key: string;
  readonly passphrase?: string | undefined;
  readonly ca?: string | undefined;
  /** The address the listener binds: its certificate should name it (unless it binds every interface). */
  readonly host: string;
}

/** Days before expiry from which a certificate is reported. */
export const EXPIRY_WARNING_DAYS = 30;
const DAY_MS = 86_400_000;

export async function inspectTlsFiles(files: TlsFiles, now: Date = new Date()): Promise<Finding[]> {
  const out: Finding[] = [];
  const chain = await readCertificates('server certificate', files.cert, out);
  const key = await readKey(files, out);
  const leaf = chain?.[0];
  if (chain !== undefined && leaf !== undefined) {
    out.push({ severity: 'info', text: `server certificate ${files.cert}: ${describe(leaf)}` });
    checkValidity('server certificate', leaf, now, out);
    checkServerUse(leaf, out);
    checkChain(chain, now, out);
    checkHost(leaf, files.host, out);
  }
  if (leaf !== undefined && key !== undefined) {
    if (leaf.checkPrivateKey(key)) out.push({ severity: 'ok', text: `key ${files.key} (${keyKind(key)}) belongs to the certificate` });
    else out.push({ severity: 'error', text: `key ${files.key} does not belong to the certificate ${files.cert}` });
  }
  if (files.ca !== undefined) {
    const cas = await readCertificates('client CA', files.ca, out);
    for (const ca of cas ?? []) {
      out.push({ severity: 'info', text: `client CA ${files.ca}: ${oneLine(ca.subject)}, valid until ${day(ca.validTo)}` });
      if (!ca.ca) out.push({ severity: 'warn', text: `client CA ${oneLine(ca.subject)} is not a CA certificate (basicConstraints)` });
      checkValidity('client CA', ca, now, out);
    }
  }
  return out;
}

/** Every PEM certificate in a file (a chain), or a single DER certificate. Undefined after an error. */
async function readCertificates(what: string, path: string, out: Finding[]): Promise<X509Certificate[] | undefined> {
  const bytes = await readBytes(what, path, out);
  if (bytes === undefined) return undefined;
  const blocks = bytes.toString('latin1').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  try {
    const certs = blocks.length > 0 ? blocks.map((b) => new X509Certificate(b)) : [new X509Certificate(bytes)];
    return certs;
  } catch (err) {
    out.push({ severity: 'error', text: `${what} ${path} is not a PEM certificate (${errorText(err)})` });
    return undefined;
  }
}

async function readKey(files: TlsFiles, out: Finding[]): Promise<KeyObject | undefined> {
  const bytes = await readBytes('key', files.key, out);
  if (bytes === undefined) return undefined;
  try {
    const mode = (await stat(files.key)).mode;
    if ((mode & 0o077) !== 0)
      out.push({
        severity: 'warn',
        text: `key ${files.key} is readable by other users (mode ${(mode & 0o777).toString(8)}); chmod 600 it`,
      });
  } catch (err) {
    out.push({ severity: 'warn', text: `cannot check the mode of ${files.key} (${errorText(err)})` });
  }
  try {
    return createPrivateKey(files.passphrase === undefined ? { key: bytes } : { key: bytes, passphrase: files.passphrase });
  } catch (err) {
    const text = errorText(err);
    const reason = /passphrase|decrypt|bad decrypt/i.test(text)
      ? files.passphrase === undefined
        ? 'it is encrypted and no passphrase is configured'
        : 'the configured passphrase does not decrypt it'
      : text;
    out.push({ severity: 'error', text: `key ${files.key} cannot be read as a private key: ${reason}` });
    return undefined;
  }
}

async function readBytes(what: string, path: string, out: Finding[]): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    out.push({ severity: 'error', text: `${what} ${path}: ${code === 'ENOENT' ? 'file not found' : `cannot be read (${code})`}` });
    return undefined;
  }
}

function checkValidity(what: string, cert: X509Certificate, now: Date, out: Finding[]): void {
  const from = new Date(cert.validFrom);
  const to = new Date(cert.validTo);
  const name = oneLine(cert.subject);
  if (now < from) out.push({ severity: 'error', text: `${what} ${name} is not valid before ${day(cert.validFrom)}` });
  else if (now > to) out.push({ severity: 'error', text: `${what} ${name} expired on ${day(cert.validTo)}` });
  else {
    const days = Math.floor((to.getTime() - now.getTime()) / DAY_MS);
    if (days < EXPIRY_WARNING_DAYS) out.push({ severity: 'warn', text: `${what} ${name} expires in ${days} days (${day(cert.validTo)})` });
  }
}

function checkServerUse(leaf: X509Certificate, out: Finding[]): void {
  if (leaf.ca) out.push({ severity: 'warn', text: 'the server certificate is a CA certificate; use one issued by the CA for the server' });
  // Node names the extended key usage OIDs `keyUsage`; absent means any use.
  const eku = leaf.keyUsage;
  if (eku !== undefined && !eku.includes('1.3.6.1.5.5.7.3.1') && !eku.includes('2.5.29.37.0'))
    out.push({ severity: 'error', text: 'the server certificate is not for TLS servers (extended key usage lacks serverAuth)' });
  if (leaf.checkIssued(leaf)) out.push({ severity: 'info', text: 'the server certificate is self-signed: clients must trust it itself' });
}

/** Each certificate in the file should be issued by the next one. */
function checkChain(chain: readonly X509Certificate[], now: Date, out: Finding[]): void {
  for (let i = 0; i + 1 < chain.length; i++) {
    const cert = chain[i] as X509Certificate;
    const issuer = chain[i + 1] as X509Certificate;
    if (!cert.checkIssued(issuer) || !cert.verify(issuer.publicKey))
      out.push({
        severity: 'error',
        text: `certificate ${i + 1} in the chain (${oneLine(cert.subject)}) is not signed by the next one (${oneLine(issuer.subject)})`,
      });
    checkValidity('intermediate certificate', issuer, now, out);
  }
}

const WILDCARD_BINDS = new Set(['0.0.0.0', '::', '::0', '0:0:0:0:0:0:0:0']);

/**
 * The bound host should be named by the certificate, since clients verify the name they dialled. A
 * wildcard bind cannot be checked: the names the certificate covers are listed instead. A specific IP
 * the certificate lacks is a warning, since clients may dial a DNS name that resolves to it.
 */
function checkHost(leaf: X509Certificate, host: string, out: Finding[]): void {
  const names = leaf.subjectAltName;
  if (names === undefined) {
    out.push({
      severity: 'warn',
      text: 'the server certificate has no subjectAltName; current clients ignore the CN and will refuse it',
    });
  }
  const covers = names ?? 'nothing';
  if (WILDCARD_BINDS.has(host)) {
    out.push({ severity: 'info', text: `listening on every interface: clients must connect by a name the certificate covers (${covers})` });
    return;
  }
  if (isIP(host) !== 0) {
    if (leaf.checkIP(host) !== undefined) out.push({ severity: 'ok', text: `the certificate covers ${host}` });
    else out.push({ severity: 'warn', text: `the certificate does not cover ${host}; clients must connect by one of: ${covers}` });
    return;
  }
  if (leaf.checkHost(host) !== undefined) out.push({ severity: 'ok', text: `the certificate covers ${host}` });
  else out.push({ severity: 'error', text: `the certificate does not cover ${host} (it covers ${covers})` });
}

function describe(c: X509Certificate): string {
  const self = c.checkIssued(c);
  return `${oneLine(c.subject)}, issued by ${self ? 'itself' : oneLine(c.issuer)}, valid ${day(c.validFrom)} to ${day(c.validTo)}, ${keyKind(c.publicKey)}`;
}

function keyKind(key: KeyObject): string {
  const d = key.asymmetricKeyDetails;
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return `RSA ${d?.modulusLength ?? '?'}`;
    case 'ec':
      return `EC ${d?.namedCurve === 'prime256v1' ? 'P-256' : (d?.namedCurve ?? '?')}`;
    default:
      return String(key.asymmetricKeyType);
  }
}

function day(date: string): string {
  return new Date(date).toISOString().slice(0, 10);
}

function oneLine(dn: string): string {
  return dn.split('\n').join(', ');
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
