import { Buffer } from 'node:buffer';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SCHEMA, SCHEMA_VERSION } from '../../src/store/sqlite/schema.js';

/**
 * Writes a Mozzie data directory straight through better-sqlite3 with the store's schema: `sessions`
 * persistent sessions (3.1.1, Clean Session 0, disconnected a minute ago) with two subscriptions each
 * (`dev/<client>/cmd` at QoS 1 and `fleet/<n>/#` at QoS 0), and `retained` retained messages on topics
 * `site/<a>/<b>/<c>` (100 x 100 x 100 per million) with small JSON payloads. Rows go in key order inside
 * one transaction with journaling off, the way a bulk load is fastest; the file ends in WAL mode, as the
 * store leaves it.
 */

export interface SeedCounts {
  readonly sessions: number;
  readonly retained: number;
}

export const clientIdOf = (i: number): string => `client-${String(i).padStart(6, '0')}`;
export const retainedTopicOf = (i: number): string =>
  `site/${String(Math.floor(i / 10_000) % 1000).padStart(3, '0')}/${String(Math.floor(i / 100) % 100).padStart(2, '0')}/${String(i % 100).padStart(2, '0')}`;

export function seedDataDir(dataDir: string, counts: SeedCounts): void {
  mkdirSync(dataDir, { recursive: true });
  const db = new Database(join(dataDir, 'mozzie.db'));
  try {
    db.pragma('journal_mode = OFF');
    db.pragma('synchronous = OFF');
    db.pragma('cache_size = -262144');
    db.exec(SCHEMA);
    db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)').run('schema', String(SCHEMA_VERSION));
    const now = Date.now();
    const session = db.prepare(
      'INSERT INTO sessions (client_id, protocol_version, expiry_interval, disconnected_at, next_seq) VALUES (?, 4, ?, ?, 1)',
    );
    const subscription = db.prepare('INSERT INTO subscriptions (client_id, filter, qos, options, sub_id) VALUES (?, ?, ?, 0, NULL)');
    const retained = db.prepare(
      'INSERT INTO retained (topic, payload, qos, properties, expiry, received_at, origin) VALUES (?, ?, 1, NULL, NULL, ?, ?)',
    );
    db.transaction(() => {
      for (let i = 0; i < counts.sessions; i++) {
        const id = clientIdOf(i);
        // A week, the broker's default for 3.1.1 persistent sessions.
        session.run(id, 7 * 24 * 3600, now - 60_000);
        subscription.run(id, `dev/${id}/cmd`, 1);
        subscription.run(id, `fleet/${i % 100}/#`, 0);
      }
      for (let i = 0; i < counts.retained; i++) {
        const payload = Buffer.from(`{"n":${i},"temperature":${(i % 400) / 10},"ok":true}`);
        retained.run(retainedTopicOf(i), payload, now - 60_000, `sensor-${i % 1000}`);
      }
    })();
    db.pragma('journal_mode = WAL');
  } finally {
    db.close();
  }
}
