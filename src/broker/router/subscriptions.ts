import type { Session, SubscriptionEntry } from '../session.js';
import { SharedGroup } from './shared.js';

/**
 * Where one published topic goes for one subscribing session, with its overlapping subscriptions folded
 * together: the highest QoS, every Subscription Identifier ([MQTT-3.3.4-2], [MQTT-3.3.4-3]), and
 * Retain As Published if any asks for it. `local*` fold only the subscriptions without No Local, for
 * messages the session itself published ([MQTT-3.8.3-3]); localQos is -1 when all have No Local.
 */
export interface Target {
  readonly session: Session;
  qos: number;
  rap: boolean;
  subscriptionIdentifiers: number[] | undefined;
  localQos: number;
  localRap: boolean;
  localSubscriptionIdentifiers: number[] | undefined;
}

export interface MatchResult {
  readonly targets: readonly Target[];
  readonly groups: readonly SharedGroup[];
}

const EMPTY: MatchResult = { targets: [], groups: [] };

class Node {
  children: Map<string, Node> | undefined;
  subscribers: Map<Session, SubscriptionEntry> | undefined;
  groups: Map<string, SharedGroup> | undefined;
  constructor(
    readonly parent: Node | undefined,
    readonly level: string,
  ) {}

  isEmpty(): boolean {
    return (this.children?.size ?? 0) === 0 && (this.subscribers?.size ?? 0) === 0 && (this.groups?.size ?? 0) === 0;
  }
}

/**
 * The subscription index: a trie over topic levels (`+` and `#` are children like any other level),
 * with a cache of match results per topic that any subscription change clears. The broker is its one
 * owner; nothing else mutates it.
 */
export class SubscriptionIndex {
  private readonly root = new Node(undefined, '');
  private readonly cache = new Map<string, MatchResult>();
  /** Shared groups by `{shareName}/{topicFilter}`. */
  private readonly groupsByKey = new Map<string, SharedGroup>();
  private readonly maxCache: number;
  private count = 0;
  private groupCount = 0;

  constructor(maxCacheEntries = 10_000) {
    this.maxCache = maxCacheEntries;
  }

  /** Number of (session, filter) subscriptions, shared ones included. */
  get size(): number {
    return this.count;
  }

  get sharedGroups(): number {
    return this.groupCount;
  }

  /** Adds or replaces a session's subscription. Returns true if it is new. */
  add(session: Session, entry: SubscriptionEntry): boolean {
    const node = this.nodeFor(entry.topicFilter, true) as Node;
    this.cache.clear();
    if (entry.shareName !== undefined) {
      if (node.groups === undefined) node.groups = new Map();
      let group = node.groups.get(entry.shareName);
      if (group === undefined) {
        group = new SharedGroup(entry.shareName, entry.topicFilter);
        node.groups.set(entry.shareName, group);
        this.groupsByKey.set(group.key, group);
        this.groupCount++;
      }
      const isNew = !group.members.has(session);
      group.add(session, entry);
      if (isNew) this.count++;
      return isNew;
    }
    if (node.subscribers === undefined) node.subscribers = new Map();
    const isNew = !node.subscribers.has(session);
    node.subscribers.set(session, entry);
    if (isNew) this.count++;
    return isNew;
  }

  /** Removes a session's subscription; returns true if it existed. */
  remove(session: Session, entry: Pick<SubscriptionEntry, 'topicFilter' | 'shareName'>): boolean {
    const node = this.nodeFor(entry.topicFilter, false);
    if (node === undefined) return false;
    let removed = false;
    if (entry.shareName !== undefined) {
      const group = node.groups?.get(entry.shareName);
      if (group?.remove(session)) {
        removed = true;
        if (group.size === 0) {
          node.groups?.delete(entry.shareName);
          this.groupsByKey.delete(group.key);
          this.groupCount--;
        }
      }
    } else {
      removed = node.subscribers?.delete(session) ?? false;
    }
    if (removed) {
      this.count--;
      this.cache.clear();
      this.prune(node);
    }
    return removed;
  }

  /** The shared group with key `{shareName}/{topicFilter}`, if it has members. */
  groupByKey(key: string): SharedGroup | undefined {
    return this.groupsByKey.get(key);
  }

  /** Every subscription matching a topic, folded per session. Results are cached until the index changes. */
  match(topic: string): MatchResult {
    const cached = this.cache.get(topic);
    if (cached !== undefined) return cached;
    const nodes: Node[] = [];
    const levels = topic.split('/');
    // A filter starting with a wildcard does not match a topic starting with '$'. [MQTT-4.7.2-1]
    collect(this.root, levels, 0, topic.charCodeAt(0) === 0x24, nodes);
    const result = nodes.length === 0 ? EMPTY : fold(nodes);
    if (this.cache.size >= this.maxCache) this.cache.clear();
    this.cache.set(topic, result);
    return result;
  }

  private nodeFor(filter: string, create: boolean): Node | undefined {
    let node = this.root;
    for (const level of filter.split('/')) {
      let child = node.children?.get(level);
      if (child === undefined) {
        if (!create) return undefined;
        child = new Node(node, level);
        if (node.children === undefined) node.children = new Map();
        node.children.set(level, child);
      }
      node = child;
    }
    return node;
  }

  /** Drops empty nodes up the path so unsubscribed filters leave nothing behind. */
  private prune(node: Node): void {
    let n: Node | undefined = node;
    while (n?.parent !== undefined && n.isEmpty()) {
      n.parent.children?.delete(n.level);
      n = n.parent;
    }
  }
}

function collect(node: Node, levels: readonly string[], i: number, dollar: boolean, out: Node[]): void {
  const children = node.children;
  if (i === levels.length) {
    out.push(node);
    // 'sport/#' also matches 'sport': '#' covers the parent level.
    const hash = children?.get('#');
    if (hash !== undefined) out.push(hash);
    return;
  }
  if (children === undefined) return;
  const wildcardsAllowed = !(dollar && i === 0);
  if (wildcardsAllowed) {
    const hash = children.get('#');
    if (hash !== undefined) out.push(hash);
    const plus = children.get('+');
    if (plus !== undefined) collect(plus, levels, i + 1, dollar, out);
  }
  const exact = children.get(levels[i] as string);
  if (exact !== undefined) collect(exact, levels, i + 1, dollar, out);
}

function fold(nodes: readonly Node[]): MatchResult {
  const bySession = new Map<Session, Target>();
  const groups: SharedGroup[] = [];
  for (const node of nodes) {
    if (node.groups !== undefined) for (const g of node.groups.values()) groups.push(g);
    if (node.subscribers === undefined) continue;
    for (const [session, entry] of node.subscribers) {
      let t = bySession.get(session);
      if (t === undefined) {
        t = {
          session,
          qos: -1,
          rap: false,
          subscriptionIdentifiers: undefined,
          localQos: -1,
          localRap: false,
          localSubscriptionIdentifiers: undefined,
        };
        bySession.set(session, t);
      }
      if (entry.qos > t.qos) t.qos = entry.qos;
      if (entry.retainAsPublished) t.rap = true;
      const id = entry.subscriptionIdentifier;
      if (id !== undefined) {
        if (t.subscriptionIdentifiers === undefined) t.subscriptionIdentifiers = [];
        t.subscriptionIdentifiers.push(id);
      }
      if (!entry.noLocal) {
        if (entry.qos > t.localQos) t.localQos = entry.qos;
        if (entry.retainAsPublished) t.localRap = true;
        if (id !== undefined) {
          if (t.localSubscriptionIdentifiers === undefined) t.localSubscriptionIdentifiers = [];
          t.localSubscriptionIdentifiers.push(id);
        }
      }
    }
  }
  return { targets: [...bySession.values()], groups };
}
