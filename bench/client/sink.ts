import { Buffer } from 'node:buffer';
import { createServer, type Socket } from 'node:net';

/**
 * A null broker for the client benchmark: it accepts MQTT connections, answers CONNECT, PUBLISH (QoS 1 and
 * 2), PUBREL and PINGREQ with the fewest bytes and system calls it can (the acknowledgements of one socket
 * read go out in one write), and forwards nothing. Against it the clients, not the broker, set the rate:
 * it shows what each library could do with a broker that is never the bottleneck.
 *
 *   node dist/bench/client/sink.js <port>     (prints "listening <port>")
 */

class Session {
  private head: Buffer | undefined;
  private partial: Buffer | undefined;
  private partialFill = 0;
  private version = 4;
  private out: Buffer = Buffer.allocUnsafe(4096);
  private outLength = 0;

  constructor(private readonly socket: Socket) {}

  onData(chunk: Buffer): void {
    let buf = chunk;
    let pos = 0;
    if (this.partial !== undefined) {
      const p = this.partial;
      pos = Math.min(p.length - this.partialFill, chunk.length);
      chunk.copy(p, this.partialFill, 0, pos);
      this.partialFill += pos;
      if (this.partialFill === p.length) {
        this.partial = undefined;
        this.packet(p, 0);
      }
    } else if (this.head !== undefined) {
      buf = Buffer.concat([this.head, chunk]);
      this.head = undefined;
    }
    if (this.partial === undefined) this.scan(buf, pos, buf.length);
    if (this.outLength > 0) {
      this.socket.write(Buffer.from(this.out.subarray(0, this.outLength)));
      this.outLength = 0;
    }
  }

  private scan(buf: Buffer, pos: number, len: number): void {
    while (pos < len) {
      let i = pos + 1;
      let remaining = 0;
      let multiplier = 1;
      let complete = false;
      while (i < len) {
        const b = buf[i++] as number;
        remaining += (b & 0x7f) * multiplier;
        if (b < 0x80) {
          complete = true;
          break;
        }
        multiplier *= 128;
      }
      if (!complete) {
        this.head = Buffer.from(buf.subarray(pos, len));
        return;
      }
      const end = i + remaining;
      if (end > len) {
        const p = Buffer.allocUnsafe(end - pos);
        buf.copy(p, 0, pos, len);
        this.partial = p;
        this.partialFill = len - pos;
        return;
      }
      this.packet(buf, pos);
      pos = end;
    }
  }

  private packet(buf: Buffer, start: number): void {
    const first = buf[start] as number;
    let body = start + 1;
    while (((buf[body] as number) & 0x80) !== 0) body++;
    body++;
    switch (first >> 4) {
      case 1: {
        // CONNECT: protocol name (2 + n bytes), then the level.
        const nameLength = ((buf[body] as number) << 8) | (buf[body + 1] as number);
        this.version = buf[body + 2 + nameLength] as number;
        if (this.version === 5) this.emit(0x20, 3, 0, 0, 0);
        else this.emit(0x20, 2, 0, 0);
        return;
      }
      case 3: {
        const qos = (first >> 1) & 3;
        if (qos === 0) return;
        const topicLength = ((buf[body] as number) << 8) | (buf[body + 1] as number);
        const p = body + 2 + topicLength;
        this.emit(qos === 1 ? 0x40 : 0x50, 2, buf[p] as number, buf[p + 1] as number);
        return;
      }
      case 6:
        this.emit(0x70, 2, buf[body] as number, buf[body + 1] as number);
        return;
      case 12:
        this.emit(0xd0, 0);
        return;
      case 14:
        this.socket.end();
        return;
      default:
        return;
    }
  }

  private emit(...bytes: number[]): void {
    if (this.outLength + bytes.length > this.out.length) {
      const bigger = Buffer.allocUnsafe(this.out.length * 2);
      this.out.copy(bigger, 0, 0, this.outLength);
      this.out = bigger;
    }
    for (const b of bytes) this.out[this.outLength++] = b;
  }
}

function main(): void {
  const port = Number(process.argv[2] ?? '0');
  const server = createServer({ noDelay: true }, (socket: Socket) => {
    const session = new Session(socket);
    socket.on('data', (chunk: Buffer) => session.onData(chunk));
    socket.on('error', () => socket.destroy());
  });
  server.listen(port, '127.0.0.1', () => {
    const address = server.address();
    process.stdout.write(`listening ${typeof address === 'object' && address !== null ? address.port : port}\n`);
  });
}

main();
