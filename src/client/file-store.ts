import { Buffer } from 'node:buffer';
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { PublishProperties, QoS } from '../protocol/index.js';
import type { StoredPublish } from './state.js';
import type { InflightStore } from './store.js';

interface Record {
  readonly op: 'put' | 'del';
  readonly key: number;
  readonly topic?: string;
  readonly payload?: string;
  readonly qos?: QoS;
  readonly retain?: boolean;
  readonly properties?: unknown;
}

/**
 * A durable in-flight store in one file: an append-only log of JSON lines ("put" a message, "del" a key),
 * written and fsync'd once per event-loop turn for everything that happened in it (group commit), and
 * compacted to the live messages when opened. QoS 1/2 messages published before a crash or restart are
 * sent again when the client connects.
 */
export class FileStore implements InflightStore {
  private fd: number | undefined;
  private pending: string[] = [];
  private scheduled: Promise<void> | undefined;
  private live = 0;
  private dead = 0;

  constructor(readonly path: string) {}

  async load(): Promise<StoredPublish[]> {
    const messages = new Map<number, StoredPublish>();
    let text = '';
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const lines = text.split('\n');
    const last = lines.findLastIndex((line) => line.trim() !== '');
    lines.forEach((line, i) => {
      if (line.trim() === '') return;
      let r: Record;
      try {
        r = JSON.parse(line) as Record;
      } catch {
        // A torn last line (crash during a write) is expected; anything earlier is corruption.
        if (i === last) return;
        throw new Error(`${this.path}: line ${i + 1} is not valid JSON; the in-flight store is corrupt (move it away to start empty)`);
      }
      if (r.op === 'del') messages.delete(r.key);
      else messages.set(r.key, decode(r));
    });
    const list = [...messages.values()].sort((a, b) => a.key - b.key);
    this.compact(list);
    this.live = list.length;
    return list;
  }

  /** Rewrites the file with just the live messages, atomically (write, fsync, rename). */
  private compact(list: readonly StoredPublish[]): void {
    const tmp = join(dirname(this.path), `.${Date.now()}.mozzie-store.tmp`);
    const fd = openSync(tmp, 'w');
    const body = list.map((m) => `${JSON.stringify(encode(m))}\n`).join('');
    if (body.length > 0) writeSync(fd, body);
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, this.path);
    this.fd = openSync(this.path, 'a');
    this.dead = 0;
  }

  put(message: StoredPublish): void {
    this.live++;
    this.append(`${JSON.stringify(encode(message))}\n`);
  }

  delete(key: number): void {
    this.live--;
    this.dead++;
    this.append(`${JSON.stringify({ op: 'del', key })}\n`);
  }

  private append(line: string): void {
    this.pending.push(line);
    if (this.scheduled === undefined) {
      this.scheduled = new Promise<void>((resolve) => {
        setImmediate(() => {
          this.writePending();
          resolve();
        });
      });
    }
  }

  private writePending(): void {
    this.scheduled = undefined;
    if (this.pending.length === 0 || this.fd === undefined) return;
    const data = this.pending.join('');
    this.pending = [];
    writeSync(this.fd, data);
    fsyncSync(this.fd);
    // Mostly acknowledged lines: start the file again with the live ones only.
    if (this.dead > 1000 && this.dead > this.live * 4) {
      // Compaction needs the live set; re-read it from the file we just made durable.
      const text = readFileSync(this.path, 'utf8');
      const messages = new Map<number, StoredPublish>();
      for (const line of text.split('\n')) {
        if (line === '') continue;
        const r = JSON.parse(line) as Record;
        if (r.op === 'del') messages.delete(r.key);
        else messages.set(r.key, decode(r));
      }
      closeSync(this.fd);
      this.compact([...messages.values()].sort((a, b) => a.key - b.key));
    }
  }

  async flush(): Promise<void> {
    await this.scheduled;
  }

  async close(): Promise<void> {
    await this.flush();
    this.writePending();
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

function encode(m: StoredPublish): Record {
  return {
    op: 'put',
    key: m.key,
    topic: m.topic,
    payload: m.payload.toString('base64'),
    qos: m.qos,
    retain: m.retain,
    ...(m.properties === undefined ? {} : { properties: serializeProperties(m.properties) }),
  };
}

function decode(r: Record): StoredPublish {
  return {
    key: r.key,
    topic: r.topic ?? '',
    payload: Buffer.from(r.payload ?? '', 'base64'),
    qos: r.qos ?? 1,
    retain: r.retain ?? false,
    ...(r.properties === undefined ? {} : { properties: deserializeProperties(r.properties) }),
  };
}

function serializeProperties(p: PublishProperties): unknown {
  return { ...p, ...(p.correlationData === undefined ? {} : { correlationData: { base64: p.correlationData.toString('base64') } }) };
}

function deserializeProperties(p: unknown): PublishProperties {
  const o = p as { correlationData?: { base64: string } } & Omit<PublishProperties, 'correlationData'>;
  const { correlationData, ...rest } = o;
  return correlationData === undefined ? rest : { ...rest, correlationData: Buffer.from(correlationData.base64, 'base64') };
}
