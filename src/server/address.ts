import { isIPv4, isIPv6 } from 'node:net';

/**
 * The key admission control counts a client address under: IPv4 as is (an IPv4-mapped IPv6 address, as a
 * dual-stack listener reports IPv4 clients, becomes plain IPv4), IPv6 as its network of `ipv6Prefix` bits,
 * since one host usually holds a whole /64 and could otherwise step around per-address limits.
 * Undefined for what is not an IP address (a Unix socket, an in-memory stream).
 */
export function addressKey(address: string | undefined, ipv6Prefix: number): string | undefined {
  if (address === undefined) return undefined;
  const plain = unmapIPv4(address);
  if (isIPv4(plain)) return plain;
  const groups = ipv6Groups(plain);
  if (groups === undefined) return undefined;
  let bits = ipv6Prefix;
  for (let i = 0; i < 8; i++) {
    const keep = Math.max(0, Math.min(16, bits));
    groups[i] = keep === 0 ? 0 : (groups[i] as number) & (0xffff << (16 - keep)) & 0xffff;
    bits -= 16;
  }
  const text = groups.map((g) => g.toString(16)).join(':');
  return ipv6Prefix >= 128 ? text : `${text}/${ipv6Prefix}`;
}

/** `::ffff:10.1.2.3` -> `10.1.2.3`; anything else unchanged. */
export function unmapIPv4(address: string): string {
  if (address.length > 7 && address.slice(0, 7).toLowerCase() === '::ffff:') {
    const v4 = address.slice(7);
    if (isIPv4(v4)) return v4;
  }
  return address;
}

/** The eight 16-bit groups of an IPv6 address (with `::`, an embedded IPv4 tail or a zone id), or undefined. */
function ipv6Groups(address: string): number[] | undefined {
  const zone = address.indexOf('%');
  const text = zone >= 0 ? address.slice(0, zone) : address;
  if (!isIPv6(text)) return undefined;
  const parse = (part: string): number[] => {
    if (part === '') return [];
    const out: number[] = [];
    for (const piece of part.split(':')) {
      if (isIPv4(piece)) {
        const [a, b, c, d] = piece.split('.').map(Number) as [number, number, number, number];
        out.push((a << 8) | b, (c << 8) | d);
      } else {
        out.push(Number.parseInt(piece, 16));
      }
    }
    return out;
  };
  const gap = text.indexOf('::');
  if (gap < 0) return parse(text);
  const head = parse(text.slice(0, gap));
  const tail = parse(text.slice(gap + 2));
  return [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
}
