import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { type Finding, inspectTlsFiles, type Severity } from '../certs/inspect.js';
import type { ListenerConfig, MozzieConfig } from '../config/index.js';
import { isLoopback } from '../server/server.js';
import { urlHost } from '../transport/types.js';

/**
 * `mozzie broker --check-config`: validates the configuration (done before this runs) and explains, per
 * listener, what it will accept: address, TLS versions, client certificates, identity mapping, anonymous
 * access, authentication and the PROXY protocol. Certificate files are read and checked (see
 * certs/inspect.ts). Prints no secrets. Exit 0 when nothing is wrong (warnings allowed), 1 otherwise.
 */
export async function checkConfig(config: MozzieConfig, source: string): Promise<number> {
  const findings: Finding[] = [];
  const lines: string[] = [`Configuration ${source}: valid (${config.listeners.length} listener${plural(config.listeners.length)})`, ''];
  const auth = await authSummary(config);
  for (const [i, l] of config.listeners.entries()) {
    const own = await describeListener(l, config, auth.configured);
    lines.push(`Listener ${i + 1}: ${l.name ?? `${l.type}:${l.port}`}  ${listenerUrl(l)}`, ...own.notes.map((n) => `  ${n}`));
    lines.push(...own.findings.map(format));
    findings.push(...own.findings);
    lines.push('');
  }
  for (const f of duplicatePorts(config.listeners)) {
    lines.push(format(f));
    findings.push(f);
  }
  lines.push(`Authentication: ${auth.text}`, ...auth.findings.map(format));
  findings.push(...auth.findings);
  const errors = findings.filter((f) => f.severity === 'error').length;
  const warnings = findings.filter((f) => f.severity === 'warn').length;
  lines.push('', `${errors === 0 ? 'OK' : 'FAILED'}: ${errors} error${plural(errors)}, ${warnings} warning${plural(warnings)}`);
  process.stdout.write(`${lines.join('\n')}\n`);
  return errors === 0 ? 0 : 1;
}

const LABEL: Record<Severity, string> = { ok: 'ok   ', info: 'info ', warn: 'WARN ', error: 'ERROR' };

function format(f: Finding): string {
  return `  ${LABEL[f.severity]} ${f.text}`;
}

function plural(n: number): string {
  return n === 1 ? '' : 's';
}

function listenerUrl(l: ListenerConfig): string {
  const scheme = { tcp: 'mqtt', tls: 'mqtts', ws: 'ws', wss: 'wss' }[l.type];
  const path = l.type === 'ws' || l.type === 'wss' ? l.path : '';
  return `${scheme}://${urlHost(l.host)}:${l.port === 0 ? '(any free port)' : l.port}${path}`;
}

async function describeListener(
  l: ListenerConfig,
  config: MozzieConfig,
  authConfigured: boolean,
): Promise<{ notes: string[]; findings: Finding[] }> {
  const notes: string[] = [];
  const findings: Finding[] = [];
  if (l.type === 'tcp') {
    notes.push('plain TCP: not encrypted');
    if (l.proxyProtocol) {
      notes.push(
        'PROXY protocol: every connection must start with a v1 or v2 header (else it is closed); the client address is taken from it',
      );
      findings.push({
        severity: 'info',
        text: 'only a load balancer should reach this port: anyone who can connect directly can claim any client address',
      });
    }
  } else if (l.type === 'ws') {
    notes.push('plain WebSocket: not encrypted');
  } else {
    notes.push(...tlsNotes(l));
    findings.push(...(await inspectTlsFiles({ cert: l.cert, key: l.key, passphrase: l.passphrase, ca: l.ca, host: l.host })));
  }
  if (l.type === 'ws' || l.type === 'wss') {
    notes.push(`WebSocket path ${l.path} (subprotocols mqtt, mqttv3.1); other paths get 404, plain HTTP requests 426`);
  }
  const anonymous = l.allowAnonymous ?? config.allowAnonymous ?? isLoopback(l.host);
  const why =
    l.allowAnonymous !== undefined
      ? 'listener allowAnonymous'
      : config.allowAnonymous !== undefined
        ? 'top-level allowAnonymous'
        : `default: ${isLoopback(l.host) ? '' : 'not '}a loopback address`;
  notes.push(`anonymous clients: ${anonymous ? 'allowed' : 'refused'} (${why})`);
  if (anonymous && !isLoopback(l.host))
    findings.push({
      severity: 'warn',
      text: 'anonymous clients are accepted on a non-loopback address: anyone who can reach it can connect',
    });
  const certificateUsers = (l.type === 'tls' || l.type === 'wss') && l.identityFrom !== 'none';
  if (!anonymous && !authConfigured && !certificateUsers)
    findings.push({
      severity: 'warn',
      text: 'no client can connect here: anonymous access is refused and no authentication or certificate identity is configured',
    });
  return { notes, findings };
}

function tlsNotes(l: Extract<ListenerConfig, { type: 'tls' | 'wss' }>): string[] {
  const notes = [
    `${l.type === 'tls' ? 'TLS' : 'WebSocket over TLS'}: ${l.minVersion === 'TLSv1.3' ? 'TLS 1.3 only' : 'TLS 1.2 and 1.3'}; ` +
      `${l.ciphers === undefined ? "Node's default ciphers" : `TLS 1.2 ciphers "${l.ciphers}"`}`,
  ];
  if (l.ca === undefined) notes.push('client certificates: not requested');
  else if (l.requireCertificate) notes.push(`client certificates: required, signed by a CA in ${l.ca}; clients without one are refused`);
  else
    notes.push(
      `client certificates: requested but optional, verified against ${l.ca}; a client without one (or with one that does not verify) is treated as having none`,
    );
  notes.push(
    l.identityFrom === 'none'
      ? 'identity: the username is what the client sends'
      : `identity: the certificate ${l.identityFrom === 'cn' ? 'CN' : 'subject'} becomes the username (identityFrom: ${l.identityFrom}); a verified certificate is enough to connect`,
  );
  if (l.passphrase !== undefined) notes.push('key passphrase: set (not shown)');
  return notes;
}

/**
 * The `auth` section (password file, ACL file, SCRAM), read loosely so this check keeps working as the
 * section grows. Names files, never their contents; a named file that is missing is an error.
 */
async function authSummary(config: MozzieConfig): Promise<{ configured: boolean; text: string; findings: Finding[] }> {
  const auth = (config as unknown as Record<string, unknown>)['auth'] as Record<string, unknown> | undefined;
  const passwordFile = typeof auth?.['passwordFile'] === 'string' ? auth['passwordFile'] : undefined;
  const aclFile = typeof auth?.['aclFile'] === 'string' ? auth['aclFile'] : undefined;
  const findings: Finding[] = [];
  for (const [what, path] of [
    ['password file', passwordFile],
    ['ACL file', aclFile],
  ] as const) {
    if (path === undefined) continue;
    try {
      await access(path, constants.R_OK);
    } catch (err) {
      findings.push({
        severity: 'error',
        text: `${what} ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : 'cannot be read'}`,
      });
    }
  }
  const parts: string[] = [];
  if (passwordFile !== undefined)
    parts.push(`password file ${passwordFile}${auth?.['scram'] === false ? '' : ' (also SCRAM-SHA-256 for MQTT 5 clients)'}`);
  if (aclFile !== undefined) parts.push(`ACL file ${aclFile} (what each client may publish and subscribe to)`);
  if (parts.length === 0)
    return {
      configured: false,
      text: 'none configured (no auth.passwordFile): clients connect anonymously where allowed, or by certificate identity',
      findings,
    };
  return { configured: passwordFile !== undefined, text: parts.join('; '), findings };
}

/** Two listeners on the same port of overlapping addresses cannot both bind. */
function duplicatePorts(listeners: readonly ListenerConfig[]): Finding[] {
  const out: Finding[] = [];
  const wildcard = (h: string) => h === '0.0.0.0' || h === '::';
  for (let i = 0; i < listeners.length; i++) {
    for (let j = i + 1; j < listeners.length; j++) {
      const a = listeners[i] as ListenerConfig;
      const b = listeners[j] as ListenerConfig;
      if (a.port === 0 || a.port !== b.port) continue;
      if (a.host === b.host || wildcard(a.host) || wildcard(b.host))
        out.push({ severity: 'error', text: `listeners ${i + 1} and ${j + 1} both use port ${a.port} on overlapping addresses` });
    }
  }
  return out;
}
