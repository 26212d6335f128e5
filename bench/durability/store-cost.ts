import { Buffer } from 'node:buffer';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { SqliteStore, SqliteStoreOptions, SyncLevel } from '../../src/store/sqlite/store.js';
import type { StoredDelivery, StoredMessage } from '../../src/store/types.js';

/**
 * The store alone, driven with the calls the broker makes in the durability scenarios, without sockets:
 * CPU microseconds per message of SqliteStore (statements, commits, page reads). One event-loop turn per
 * batch, as the broker commits.
 *
 *   node dist/bench/durability/store-cost.js [--sync normal|full] [--store other/dist/src/store/sqlite/store.js]
 *
 * online: per turn 100 clients x 32 messages saved with a delivery in flight; each removed the next turn.
 * queue:  2,000 messages for each of 100 clients, queued (3,200 per turn).
 * drain:  pages of 512 read per client; per turn 100 per client marked in flight, removed the next turn.
 */

const CLIENTS = 100;
const WINDOW = 32;
const QUEUED = 2000;
const PAYLOAD = Buffer.alloc(64, 0x64);

type Store = Pick<
  SqliteStore,
  | 'load'
  | 'saveSession'
  | 'saveMessage'
  | 'addDelivery'
  | 'updateDelivery'
  | 'removeDelivery'
  | 'loadDeliveries'
  | 'afterCommit'
  | 'flush'
  | 'close'
>;

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

function message(client: number): StoredMessage {
  return {
    topic: `dur/${client}`,
    payload: PAYLOAD,
    qos: 1,
    retain: false,
    properties: undefined,
    expiryInterval: undefined,
    receivedAt: Date.now(),
    origin: `pub-${client}`,
  };
}

function delivery(seq: number, messageId: number, state: StoredDelivery['state']): StoredDelivery {
  const packetId = state === 'queued' ? 0 : (seq % 65_535) + 1;
  return { seq, messageId, qos: 1, retain: false, subscriptionIdentifiers: undefined, shareKey: undefined, packetId, state };
}

class Phase {
  private readonly cpu = process.cpuUsage();
  count = 0;
  report(name: string): void {
    const used = process.cpuUsage(this.cpu);
    process.stdout.write(`${name.padEnd(7)} ${((used.user + used.system) / this.count).toFixed(2)} us CPU per message (${this.count})\n`);
  }
}

async function run(store: Store): Promise<void> {
  await store.load();
  const seqs = new Array<number>(CLIENTS).fill(1);
  let nextId = 1;
  for (let c = 0; c < CLIENTS; c++) store.saveSession(`sub-${c}`, 4, 4_294_967_295, undefined, 1);
  await store.flush();

  let online = new Phase();
  let owed: [string, number, number][] = [];
  for (let t = 0; t < 150; t++) {
    for (const [client, seq, id] of owed) store.removeDelivery(client, seq, id);
    owed = [];
    for (let c = 0; c < CLIENTS; c++) {
      for (let w = 0; w < WINDOW; w++) {
        const id = nextId++;
        store.saveMessage(id, message(c));
        const seq = seqs[c] ?? 1;
        seqs[c] = seq + 1;
        store.addDelivery(`sub-${c}`, delivery(seq, id, 'publish'));
        owed.push([`sub-${c}`, seq, id]);
        online.count++;
      }
    }
    store.afterCommit(() => undefined);
    await turn();
  }
  for (const [client, seq, id] of owed) store.removeDelivery(client, seq, id);
  await store.flush();
  online.report('online');

  online = new Phase();
  for (let m = 0; m < QUEUED; m += WINDOW) {
    for (let c = 0; c < CLIENTS; c++) {
      for (let w = 0; w < WINDOW; w++) {
        const id = nextId++;
        store.saveMessage(id, message(c));
        const seq = seqs[c] ?? 1;
        seqs[c] = seq + 1;
        store.addDelivery(`sub-${c}`, delivery(seq, id, 'queued'));
        online.count++;
      }
    }
    await turn();
  }
  await store.flush();
  online.report('queue');

  const drain = new Phase();
  const after = new Array<number>(CLIENTS).fill(0);
  const pages: [number, number][][] = Array.from({ length: CLIENTS }, () => []);
  let inflight: [string, number, number][] = [];
  for (;;) {
    for (const [client, seq, id] of inflight) store.removeDelivery(client, seq, id);
    inflight = [];
    for (let c = 0; c < CLIENTS; c++) {
      const page = pages[c] as [number, number][];
      if (page.length < 100) {
        for (const d of (await store.loadDeliveries(`sub-${c}`, after[c] ?? 0, 512)).deliveries) {
          page.push([d.seq, d.messageId]);
          after[c] = d.seq;
        }
      }
      for (const [seq, id] of page.splice(0, 100)) {
        store.updateDelivery(`sub-${c}`, seq, (seq % 65_535) + 1, 'publish');
        inflight.push([`sub-${c}`, seq, id]);
        drain.count++;
      }
    }
    await turn();
    if (inflight.length === 0) break;
  }
  await store.flush();
  drain.report('drain');
  await store.close();
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { sync: { type: 'string', default: 'normal' }, store: { type: 'string' } } });
  const sync = values.sync as SyncLevel;
  const module = values.store === undefined ? '../../src/store/sqlite/store.js' : pathToFileURL(resolve(values.store)).href;
  const { SqliteStore: Impl } = (await import(module)) as { SqliteStore: new (options: SqliteStoreOptions) => Store };
  const dir = mkdtempSync(join(tmpdir(), 'mozzie-store-cost-'));
  try {
    process.stdout.write(`store ${values.store ?? 'of this build'}, sync=${sync}\n`);
    await run(new Impl({ dataDir: dir, sync }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`store-cost: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
