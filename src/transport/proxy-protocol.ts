import { Buffer } from 'node:buffer';
import { isIP, type Socket, SocketAddress } from 'node:net';

/** The client address a load balancer reports in a PROXY protocol header. */
export interface ProxiedAddress {
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
}

const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_PREFIX = Buffer.from('PROXY ');
/** A v1 header is at most 107 bytes; a v2 header 16 bytes plus what its length field says (capped). */
const MAX_HEADER = 16 + 536;

/**
 * Reads a PROXY protocol v1 or v2 header (HAProxy's spec) from the start of a socket, then puts any bytes
 * after it back, so what follows is the client's own stream. Rejects when the header is missing,
 * malformed, or does not arrive within `timeoutMs`: behind a load balancer that sends it, a connection
 * without it did not come through the balancer.
 */
export function readProxyHeader(socket: Socket, timeoutMs: number): Promise<ProxiedAddress> {
  return new Promise((resolve, reject) => {
    let buffered: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => finish(new Error('no PROXY protocol header in time')), timeoutMs);
    const finish = (err: Error | undefined, address?: ProxiedAddress, rest?: Buffer) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', onError);
      if (err !== undefined) {
        reject(err);
        return;
      }
      socket.pause();
      if (rest !== undefined && rest.length > 0) socket.unshift(rest);
      resolve(address as ProxiedAddress);
    };
    const onError = (err: Error) => finish(err);
    const onData = (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      try {
        const parsed = parse(buffered);
        if (parsed === undefined) {
          if (buffered.length > MAX_HEADER) finish(new Error('PROXY protocol header too long'));
          return;
        }
        finish(undefined, parsed.address, buffered.subarray(parsed.length));
      } catch (err) {
        finish(err as Error);
      }
    };
    socket.on('data', onData);
    socket.on('error', onError);
  });
}

/** The header and its length, or undefined if more bytes are needed. Throws if it is not a header. */
export function parse(buf: Buffer): { address: ProxiedAddress; length: number } | undefined {
  if (buf.length >= 12 && buf.subarray(0, 12).equals(V2_SIGNATURE)) return parseV2(buf);
  const prefix = Math.min(buf.length, V1_PREFIX.length);
  if (buf.subarray(0, prefix).equals(V1_PREFIX.subarray(0, prefix))) return parseV1(buf);
  if (buf.length < 12 && buf.equals(V2_SIGNATURE.subarray(0, buf.length))) return undefined;
  throw new Error('connection does not start with a PROXY protocol header');
}

function parseV1(buf: Buffer): { address: ProxiedAddress; length: number } | undefined {
  const end = buf.indexOf('\r\n');
  if (end === -1) {
    if (buf.length > 107) throw new Error('PROXY v1 header longer than 107 bytes');
    return undefined;
  }
  const parts = buf.toString('latin1', 0, end).split(' ');
  // PROXY TCP4|TCP6 src dst srcport dstport, or PROXY UNKNOWN ...
  if (parts[1] === 'UNKNOWN') return { address: { remoteAddress: undefined, remotePort: undefined }, length: end + 2 };
  if (parts.length !== 6 || (parts[1] !== 'TCP4' && parts[1] !== 'TCP6')) throw new Error('malformed PROXY v1 header');
  // The source must be an address of the family named: it becomes the client's address in logs and limits.
  const source = parts[2] as string;
  if (isIP(source) !== (parts[1] === 'TCP4' ? 4 : 6)) throw new Error('malformed PROXY v1 source address');
  const port = parts[4] as string;
  if (!/^\d{1,5}$/.test(port) || Number(port) > 65_535) throw new Error('malformed PROXY v1 source port');
  return { address: { remoteAddress: source, remotePort: Number(port) }, length: end + 2 };
}

function parseV2(buf: Buffer): { address: ProxiedAddress; length: number } | undefined {
  if (buf.length < 16) return undefined;
  const verCmd = buf[12] as number;
  if (verCmd >> 4 !== 2) throw new Error('unsupported PROXY v2 version');
  const length = 16 + buf.readUInt16BE(14);
  if (length > MAX_HEADER) throw new Error('PROXY v2 header too long');
  if (buf.length < length) return undefined;
  const command = verCmd & 0x0f;
  if (command > 1) throw new Error('unsupported PROXY v2 command');
  const family = (buf[13] as number) >> 4;
  // LOCAL (health checks from the balancer itself) or an unknown family: no client address.
  if (command === 0 || family === 0) return { address: { remoteAddress: undefined, remotePort: undefined }, length };
  if (family === 1 && length >= 16 + 12) {
    const a = buf.subarray(16, 20);
    return { address: { remoteAddress: `${a[0]}.${a[1]}.${a[2]}.${a[3]}`, remotePort: buf.readUInt16BE(24) }, length };
  }
  if (family === 2 && length >= 16 + 36) {
    const words: string[] = [];
    for (let i = 0; i < 8; i++) words.push(buf.readUInt16BE(16 + i * 2).toString(16));
    // Canonical text (::1, ::ffff:10.0.0.1), as node reports socket addresses.
    const remoteAddress = new SocketAddress({ address: words.join(':'), family: 'ipv6' }).address;
    return { address: { remoteAddress, remotePort: buf.readUInt16BE(16 + 32) }, length };
  }
  return { address: { remoteAddress: undefined, remotePort: undefined }, length };
}
