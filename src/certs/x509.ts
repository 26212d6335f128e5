import { Buffer } from 'node:buffer';
import { createHash, generateKeyPairSync, type KeyObject, randomBytes, sign, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  AlgorithmIdentifier,
  AttributeTypeAndValue,
  AttributeValue,
  AuthorityKeyIdentifier,
  BasicConstraints,
  Certificate,
  ExtendedKeyUsage,
  Extension,
  Extensions,
  GeneralName,
  id_ce_authorityKeyIdentifier,
  id_ce_basicConstraints,
  id_ce_extKeyUsage,
  id_ce_keyUsage,
  id_ce_subjectAltName,
  id_ce_subjectKeyIdentifier,
  id_kp_clientAuth,
  id_kp_serverAuth,
  KeyIdentifier,
  KeyUsage,
  KeyUsageFlags,
  Name,
  RelativeDistinguishedName,
  SubjectAlternativeName,
  SubjectKeyIdentifier,
  SubjectPublicKeyInfo,
  TBSCertificate,
  Validity,
  Version,
} from '@peculiar/asn1-x509';

/**
 * X.509 certificates built in-process: keys come from node:crypto, the ASN.1 structures from
 * @peculiar/asn1-x509 (RFC 5280 schemas), and node:crypto signs them. Nothing shells out to openssl.
 */

/** `ec` is ECDSA P-256 (small, fast handshakes); `rsa` is RSA 2048 for old clients. */
export type KeyType = 'ec' | 'rsa';

export interface KeyPair {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

export function generateKeyPair(type: KeyType): KeyPair {
  return type === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('rsa', { modulusLength: 2048 });
}

/** What the certificate is for: the key usages and extended key usages follow from it. */
export type CertificateRole = 'ca' | 'server' | 'client';

export interface CertificateSpec {
  readonly role: CertificateRole;
  readonly commonName: string;
  readonly organization?: string;
  /** Host names and IP addresses (subjectAltName); server certificates need at least one. */
  readonly hosts?: readonly string[];
  readonly publicKey: KeyObject;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Absent: self-signed with `selfKey`. */
  readonly issuer?: { readonly certificate: X509Certificate; readonly privateKey: KeyObject };
  /** The private key of a self-signed certificate. */
  readonly selfKey?: KeyObject;
}

const OID_COMMON_NAME = '2.5.4.3';
const OID_ORGANIZATION = '2.5.4.10';
const OID_ECDSA_SHA256 = '1.2.840.10045.4.3.2';
const OID_RSA_SHA256 = '1.2.840.113549.1.1.11';
/** DER NULL: RSA signature algorithms carry explicit NULL parameters (RFC 4055). */
const DER_NULL = new Uint8Array([0x05, 0x00]).buffer;

/** Creates and signs a certificate; returns it in DER. */
export function createCertificate(spec: CertificateSpec): Buffer {
  const signingKey = spec.issuer?.privateKey ?? spec.selfKey;
  if (signingKey === undefined) throw new Error('a self-signed certificate needs selfKey');
  const spki = AsnConvert.parse(spec.publicKey.export({ type: 'spki', format: 'der' }), SubjectPublicKeyInfo);
  const subject = distinguishedName(spec.commonName, spec.organization);
  let issuerName = subject;
  let authorityKeyId = keyIdentifier(spki);
  if (spec.issuer !== undefined) {
    const issuerCert = AsnConvert.parse(spec.issuer.certificate.raw, Certificate);
    // The issuer field must be the issuer's subject byte for byte, or path building fails.
    issuerName = issuerCert.tbsCertificate.subject;
    authorityKeyId = keyIdentifier(issuerCert.tbsCertificate.subjectPublicKeyInfo);
  }
  const algorithm = signatureAlgorithm(signingKey);
  const tbs = new TBSCertificate({
    version: Version.v3,
    serialNumber: serialNumber(),
    signature: algorithm,
    issuer: issuerName,
    subject,
    validity: new Validity({ notBefore: spec.notBefore, notAfter: spec.notAfter }),
    subjectPublicKeyInfo: spki,
    extensions: new Extensions(extensions(spec, spki, authorityKeyId)),
  });
  const tbsDer = Buffer.from(AsnConvert.serialize(tbs));
  // ECDSA signatures come out DER-encoded (node's default dsaEncoding), as X.509 wants them.
  const signature = sign('sha256', tbsDer, signingKey);
  const cert = new Certificate({ tbsCertificate: tbs, signatureAlgorithm: algorithm, signatureValue: toArrayBuffer(signature) });
  return Buffer.from(AsnConvert.serialize(cert));
}

function extensions(spec: CertificateSpec, spki: SubjectPublicKeyInfo, authorityKeyId: Buffer): Extension[] {
  const rsa = spec.publicKey.asymmetricKeyType === 'rsa';
  const list: Extension[] = [];
  if (spec.role === 'ca') {
    list.push(ext(id_ce_basicConstraints, true, new BasicConstraints({ cA: true, pathLenConstraint: 0 })));
    list.push(ext(id_ce_keyUsage, true, new KeyUsage(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign | KeyUsageFlags.digitalSignature)));
  } else {
    list.push(ext(id_ce_basicConstraints, true, new BasicConstraints({ cA: false })));
    // RSA key exchange (TLS 1.2 without ECDHE) encrypts with the key; ECDSA keys only sign.
    const usage = KeyUsageFlags.digitalSignature | (rsa ? KeyUsageFlags.keyEncipherment : 0);
    list.push(ext(id_ce_keyUsage, true, new KeyUsage(usage)));
    list.push(ext(id_ce_extKeyUsage, false, new ExtendedKeyUsage([spec.role === 'server' ? id_kp_serverAuth : id_kp_clientAuth])));
  }
  const hosts = spec.hosts ?? [];
  if (hosts.length > 0) {
    const names = hosts.map((h) => (isIP(h) === 0 ? new GeneralName({ dNSName: h }) : new GeneralName({ iPAddress: h })));
    list.push(ext(id_ce_subjectAltName, false, new SubjectAlternativeName(names)));
  }
  list.push(ext(id_ce_subjectKeyIdentifier, false, new SubjectKeyIdentifier(toArrayBuffer(keyIdentifier(spki)))));
  if (spec.issuer !== undefined) {
    list.push(
      ext(
        id_ce_authorityKeyIdentifier,
        false,
        new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(toArrayBuffer(authorityKeyId)) }),
      ),
    );
  }
  return list;
}

function ext(id: string, critical: boolean, value: object): Extension {
  return new Extension({ extnID: id, critical, extnValue: new OctetString(AsnConvert.serialize(value)) });
}

function distinguishedName(commonName: string, organization: string | undefined): Name {
  const rdn = (type: string, value: string) =>
    new RelativeDistinguishedName([new AttributeTypeAndValue({ type, value: new AttributeValue({ utf8String: value }) })]);
  return new Name(
    organization === undefined
      ? [rdn(OID_COMMON_NAME, commonName)]
      : [rdn(OID_ORGANIZATION, organization), rdn(OID_COMMON_NAME, commonName)],
  );
}

/** RFC 5280 4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits. */
function keyIdentifier(spki: SubjectPublicKeyInfo): Buffer {
  return createHash('sha1').update(Buffer.from(spki.subjectPublicKey)).digest();
}

function signatureAlgorithm(key: KeyObject): AlgorithmIdentifier {
  switch (key.asymmetricKeyType) {
    case 'ec':
      return new AlgorithmIdentifier({ algorithm: OID_ECDSA_SHA256 });
    case 'rsa':
      return new AlgorithmIdentifier({ algorithm: OID_RSA_SHA256, parameters: DER_NULL });
    default:
      throw new Error(`cannot sign with a ${String(key.asymmetricKeyType)} key; use an EC (P-256) or RSA key`);
  }
}

/** 16 random bytes, positive and minimally encoded (first byte 0x40..0x7f). */
function serialNumber(): ArrayBuffer {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] as number) & 0x3f) | 0x40;
  return toArrayBuffer(bytes);
}

function toArrayBuffer(b: Buffer): ArrayBuffer {
  const out = new ArrayBuffer(b.length);
  new Uint8Array(out).set(b);
  return out;
}

/** PEM text of a DER certificate. */
export function certificatePem(der: Buffer): string {
  return new X509Certificate(der).toString();
}

/** PKCS #8 PEM of a private key (unencrypted: development keys, protected by file mode 0600). */
export function privateKeyPem(key: KeyObject): string {
  return key.export({ type: 'pkcs8', format: 'pem' }).toString();
}
