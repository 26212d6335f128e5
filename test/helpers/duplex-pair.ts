import { Buffer } from 'node:buffer';
import { Duplex } from 'node:stream';

/**
 * Two connected in-memory Duplex streams: what one writes the other reads. Lets tests hand the broker a
 * stream without sockets (broker.handle(server side)) and drive it with a fake clock.
 */
export function duplexPair(): [Duplex, Duplex] {
  let a: Duplex;
  let b: Duplex;
  const make = (peer: () => Duplex) =>
    new Duplex({
      read() {
        // Data is pushed by the peer's write.
      },
      write(chunk: Buffer, _enc, cb) {
        const p = peer();
        if (!p.destroyed) p.push(Buffer.from(chunk));
        cb();
      },
      final(cb) {
        const p = peer();
        if (!p.destroyed) p.push(null);
        cb();
      },
    });
  a = make(() => b);
  b = make(() => a);
  const link = (x: Duplex, y: Duplex) =>
    x.on('close', () => {
      if (!y.destroyed) y.destroy();
    });
  link(a, b);
  link(b, a);
  return [a, b];
}
