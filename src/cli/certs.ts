import { isIP } from 'node:net';
import { relative } from 'node:path';
import { parseArgs } from 'node:util';
import {
  createCa,
  DEFAULT_CA_NAME,
  type Issued,
  issueClientCertificate,
  issueServerCertificate,
  type ValidityOptions,
} from '../certs/authority.js';
import { assertFree, caFiles, readCa, type WrittenPair, writePair } from '../certs/files.js';
import type { KeyType } from '../certs/x509.js';

const HELP = `Usage: mozzie certs <init | ca | server | client> [options]

Creates a development certificate authority (CA) and certificates signed by it, to try TLS and
mutual TLS (client certificates) in a minute. Keys are written unencrypted, readable by you only
(mode 0600). Fine for development and tests; use your organisation's PKI for production.

Commands:
  init      a CA, a server certificate and a client certificate in one go (default: for localhost)
  ca        a new CA:                               OUT/ca.crt, OUT/ca.key
  server    a server certificate signed by the CA:  OUT/server.crt, OUT/server.key
  client    a client certificate signed by the CA:  OUT/<cn>.crt, OUT/<cn>.key

Options:
  -o, --out DIR          folder for the files                            (default ./certs)
      --ca DIR|FILE      the signing CA: a folder holding ca.crt and ca.key, or the CA certificate
                         file with its key beside it (NAME.key)           (default: the --out folder)
      --host NAME|IP     server: a host name or IP address clients connect to; repeat for more
                         (default localhost, 127.0.0.1 and ::1)
      --cn NAME          client, init: the client's name (certificate CN); with identityFrom: cn it
                         is the MQTT username. ca: the CA's name (default "${DEFAULT_CA_NAME}").
                         server: the CN (default: the first --host)
      --org NAME         organisation (O=) in the certificate subject
      --name NAME        base name of the files (default ca, server, or the client's CN)
      --days N           validity in days                           (default 3650 for a CA, else 365)
      --key-type TYPE    ec (ECDSA P-256, default) or rsa (RSA 2048, for old clients)
  -f, --force            replace existing files
  -h, --help             show this help

Examples:
  mozzie certs init                                        # ./certs: ca, server (localhost), client
  mozzie certs ca --out ./certs
  mozzie certs server --ca ./certs --host localhost --host 127.0.0.1 --out ./certs
  mozzie certs server --host broker.example.lan --host 192.0.2.10   # CA and output in ./certs
  mozzie certs client --ca ./certs --cn device-42 --out ./certs

Each command prints the files it wrote and the broker configuration and client flags that use them.
`;

type Values = ReturnType<typeof parse>['values'];

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: true,
    options: {
      out: { type: 'string', short: 'o' },
      ca: { type: 'string' },
      host: { type: 'string', multiple: true },
      cn: { type: 'string' },
      org: { type: 'string' },
      name: { type: 'string' },
      days: { type: 'string' },
      'key-type': { type: 'string' },
      force: { type: 'boolean', short: 'f' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

/** `mozzie certs`: exit 0 when the files were written, 1 when something failed, 2 for usage errors. */
export async function runCerts(argv: readonly string[]): Promise<number> {
  let values: Values;
  let positionals: string[];
  try {
    ({ values, positionals } = parse(argv));
  } catch (err) {
    return usageError((err as Error).message);
  }
  if (values.help === true) {
    process.stdout.write(HELP);
    return 0;
  }
  const [command, ...extra] = positionals;
  if (command === undefined) {
    process.stdout.write(HELP);
    return 2;
  }
  if (extra.length > 0) return usageError(`unexpected argument "${extra[0]}"`);
  let options: CommonOptions;
  try {
    options = commonOptions(values);
  } catch (err) {
    return usageError((err as Error).message);
  }
  try {
    switch (command) {
      case 'init':
        return await init(options);
      case 'ca':
        return await newCa(options);
      case 'server':
        return await newServer(options);
      case 'client':
        if (values.cn === undefined) return usageError('client needs --cn NAME (the client certificate common name)');
        return await newClient(options, values.cn);
      default:
        return usageError(`unknown command "${command}"; use init, ca, server or client`);
    }
  } catch (err) {
    process.stderr.write(`mozzie certs: ${(err as Error).message}\n`);
    return 1;
  }
}

function usageError(message: string): number {
  process.stderr.write(`mozzie certs: ${message}\nRun "mozzie certs --help" for the options.\n`);
  return 2;
}

interface CommonOptions {
  readonly out: string;
  readonly ca: string;
  readonly hosts: readonly string[];
  readonly cn: string | undefined;
  readonly org: string | undefined;
  readonly name: string | undefined;
  readonly validity: ValidityOptions;
  readonly force: boolean;
}

const DEFAULT_HOSTS = ['localhost', '127.0.0.1', '::1'];

function commonOptions(v: Values): CommonOptions {
  const keyType = v['key-type'] ?? 'ec';
  if (keyType !== 'ec' && keyType !== 'rsa') throw new Error(`--key-type must be ec or rsa, not "${keyType}"`);
  let days: number | undefined;
  if (v.days !== undefined) {
    days = Number(v.days);
    if (!/^\d+$/.test(v.days) || days < 1) throw new Error(`--days must be a whole number of days (1 or more), not "${v.days}"`);
  }
  for (const h of v.host ?? []) {
    if (isIP(h) === 0 && !/^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(h))
      throw new Error(`--host "${h}" is neither a host name nor an IP address`);
  }
  if (v.name !== undefined && !/^[\w.-]+$/.test(v.name)) throw new Error('--name may only hold letters, digits, ".", "_" and "-"');
  const out = v.out ?? './certs';
  return {
    out,
    ca: v.ca ?? out,
    hosts: v.host ?? DEFAULT_HOSTS,
    cn: v.cn,
    org: v.org,
    name: v.name,
    validity: { keyType: keyType as KeyType, ...(days === undefined ? {} : { days }) },
    force: v.force === true,
  };
}

const org = (o: CommonOptions) => (o.org === undefined ? {} : { organization: o.org });

async function newCa(o: CommonOptions): Promise<number> {
  const ca = createCa({ ...o.validity, ...org(o), ...(o.cn === undefined ? {} : { commonName: o.cn }) });
  const files = await writePair(o.out, o.name ?? 'ca', ca, o.force);
  printWritten('CA', files, ca);
  const outArg = shellPath(o.out);
  print(`
Clients trust the broker with the CA certificate: ${shellPath(files.cert)}
Next, a server certificate (and, for mutual TLS, client certificates):
  mozzie certs server --ca ${outArg} --host localhost --host 127.0.0.1 --out ${outArg}
  mozzie certs client --ca ${outArg} --cn device-42 --out ${outArg}
`);
  return 0;
}

async function newServer(o: CommonOptions): Promise<number> {
  const caPaths = await caFiles(o.ca);
  const ca = await readCa(caPaths);
  const server = issueServerCertificate(ca, {
    hosts: o.hosts,
    ...o.validity,
    ...org(o),
    ...(o.cn === undefined ? {} : { commonName: o.cn }),
  });
  const files = await writePair(o.out, o.name ?? 'server', server, o.force);
  printWritten('server certificate', files, server);
  print(serverUsage(files, caPaths.cert, o.hosts));
  return 0;
}

async function newClient(o: CommonOptions, cn: string): Promise<number> {
  const caPaths = await caFiles(o.ca);
  const ca = await readCa(caPaths);
  const client = issueClientCertificate(ca, { commonName: cn, ...o.validity, ...org(o) });
  const files = await writePair(o.out, o.name ?? fileName(cn), client, o.force);
  printWritten('client certificate', files, client);
  print(clientUsage(files, caPaths.cert, undefined, cn));
  return 0;
}

async function init(o: CommonOptions): Promise<number> {
  const ca = createCa({ ...o.validity, ...org(o) });
  const server = issueServerCertificate(ca, { hosts: o.hosts, ...o.validity, ...org(o) });
  const cn = o.cn ?? 'client';
  const client = issueClientCertificate(ca, { commonName: cn, ...o.validity, ...org(o) });
  // All or nothing: a CA written beside an old server certificate would not match it.
  if (!o.force) await assertFree(o.out, ['ca', 'server', fileName(cn)]);
  const caPaths = await writePair(o.out, 'ca', ca, o.force);
  const serverPaths = await writePair(o.out, 'server', server, o.force);
  const clientPaths = await writePair(o.out, fileName(cn), client, o.force);
  printWritten('CA', caPaths, ca);
  printWritten('server certificate', serverPaths, server);
  printWritten('client certificate', clientPaths, client);
  print(serverUsage(serverPaths, caPaths.cert, o.hosts));
  print(clientUsage(clientPaths, caPaths.cert, serverPaths, cn));
  return 0;
}

function printWritten(what: string, files: WrittenPair, issued: Issued): void {
  const c = issued.certificate;
  const sans = c.subjectAltName === undefined ? '' : `, for ${c.subjectAltName}`;
  print(`Wrote ${what} ${shellPath(files.cert)} and its key ${shellPath(files.key)} (mode 0600)`);
  print(`  subject ${oneLine(c.subject)}${sans}; valid until ${new Date(c.validTo).toISOString().slice(0, 10)}`);
}

/** A TLS listener for the server certificate, and the client commands that check it. */
function serverUsage(files: WrittenPair, caCert: string, hosts: readonly string[]): string {
  const loopbackOnly = hosts.every((h) => h === 'localhost' || h === '::1' || h.startsWith('127.'));
  const connectHost = hosts[0] ?? 'localhost';
  const bind = loopbackOnly ? '127.0.0.1' : '0.0.0.0';
  return `
Broker configuration (mozzie broker --config mozzie.yaml), TLS on port 8883:

listeners:
  - type: tls
    host: ${bind}
    port: 8883
    cert: ${yamlPath(files.cert)}
    key: ${yamlPath(files.key)}

Try it (mozzie sub/pub take the same flags):
  mosquitto_sub -h ${connectHost} -p 8883 --cafile ${shellPath(caCert)} -t 'test/#' -v
  mosquitto_pub -h ${connectHost} -p 8883 --cafile ${shellPath(caCert)} -t test/hello -m hi
Check the configuration first: mozzie broker --config mozzie.yaml --check-config
`;
}

/** A mutual-TLS listener and the client commands that present the client certificate. */
function clientUsage(files: WrittenPair, caCert: string, server: WrittenPair | undefined, cn: string): string {
  const serverLines =
    server === undefined
      ? '    cert: server.crt              # the server certificate and key (mozzie certs server)\n    key: server.key\n'
      : `    cert: ${yamlPath(server.cert)}\n    key: ${yamlPath(server.key)}\n`;
  return `
Mutual TLS: the broker asks for client certificates signed by the CA and uses their CN
("${cn}") as the username:

listeners:
  - type: tls
    port: 8883
${serverLines}    ca: ${yamlPath(caCert)}
    requireCertificate: true      # refuse clients without a certificate from this CA
    identityFrom: cn              # username = certificate CN; no password needed

Connect with the client certificate:
  mosquitto_pub -h localhost -p 8883 --cafile ${shellPath(caCert)} --cert ${shellPath(files.cert)} --key ${shellPath(files.key)} -t test/hello -m hi
  mozzie pub -h localhost -p 8883 --cafile ${shellPath(caCert)} --cert ${shellPath(files.cert)} --key ${shellPath(files.key)} -t test/hello -m hi
`;
}

function print(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

function oneLine(dn: string): string {
  return dn.split('\n').join(', ');
}

/** A client CN as a file name: anything but letters, digits, ".", "_" and "-" becomes "_". */
function fileName(cn: string): string {
  const name = cn.replace(/[^\w.-]/g, '_').replace(/^\.+/, '_');
  return name === '' ? 'client' : name;
}

/** A path as short as it can be said from here, quoted for a POSIX shell when needed. */
function shellPath(path: string): string {
  const rel = relative(process.cwd(), path);
  const shown = rel === '' ? '.' : rel.startsWith('..') || rel.startsWith('/') ? path : rel.includes('/') ? rel : `./${rel}`;
  return /^[\w./:@%+=,-]+$/.test(shown) ? shown : `'${shown.replaceAll("'", "'\\''")}'`;
}

/** Absolute paths in the YAML: the broker resolves relative ones against its working directory. */
function yamlPath(path: string): string {
  return /^[\w./-]+$/.test(path) ? path : JSON.stringify(path);
}
