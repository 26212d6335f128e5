/**
 * The SQLite schema. Messages are stored once and referenced by deliveries (with a reference count), so a
 * message queued for a thousand offline subscribers takes one payload row. Tables keyed by text use
 * WITHOUT ROWID: the primary key is the row, one B-tree instead of two.
 */
export const SCHEMA_VERSION = 1;

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS sessions (
  client_id        TEXT PRIMARY KEY,
  protocol_version INTEGER NOT NULL,
  expiry_interval  INTEGER NOT NULL,
  disconnected_at  INTEGER,
  next_seq         INTEGER NOT NULL,
  will             BLOB,
  will_delay       INTEGER,
  will_due         INTEGER
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS subscriptions (
  client_id TEXT NOT NULL,
  filter    TEXT NOT NULL,
  qos       INTEGER NOT NULL,
  options   INTEGER NOT NULL,
  sub_id    INTEGER,
  PRIMARY KEY (client_id, filter)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS inbound_qos2 (
  client_id TEXT NOT NULL,
  packet_id INTEGER NOT NULL,
  PRIMARY KEY (client_id, packet_id)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS messages (
  id          INTEGER PRIMARY KEY,
  topic       TEXT NOT NULL,
  payload     BLOB NOT NULL,
  qos         INTEGER NOT NULL,
  retain      INTEGER NOT NULL,
  properties  BLOB,
  expiry      INTEGER,
  received_at INTEGER NOT NULL,
  origin      TEXT NOT NULL,
  refs        INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS deliveries (
  client_id  TEXT NOT NULL,
  seq        INTEGER NOT NULL,
  message_id INTEGER NOT NULL,
  qos        INTEGER NOT NULL,
  retain     INTEGER NOT NULL,
  sub_ids    TEXT,
  share_key  TEXT,
  packet_id  INTEGER NOT NULL,
  state      INTEGER NOT NULL,
  PRIMARY KEY (client_id, seq)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS retained (
  topic       TEXT PRIMARY KEY,
  payload     BLOB NOT NULL,
  qos         INTEGER NOT NULL,
  properties  BLOB,
  expiry      INTEGER,
  received_at INTEGER NOT NULL,
  origin      TEXT NOT NULL
) WITHOUT ROWID;
`;
