import type { Session, SubscriptionEntry } from '../session.js';

/** How a message to a Shared Subscription picks its one receiver. */
export type SharedSubscriptionStrategy = 'round-robin' | 'random' | 'sticky';

/**
 * A Shared Subscription group `$share/{shareName}/{topicFilter}` (MQTT 5.0 section 4.8.2): each message
 * matching the filter goes to exactly one member.
 */
export class SharedGroup {
  readonly key: string;
  readonly members = new Map<Session, SubscriptionEntry>();
  private list: Session[] = [];
  private cursor = 0;

  constructor(
    readonly shareName: string,
    readonly topicFilter: string,
  ) {
    this.key = `${shareName}/${topicFilter}`;
  }

  add(session: Session, entry: SubscriptionEntry): void {
    if (!this.members.has(session)) this.list.push(session);
    this.members.set(session, entry);
  }

  remove(session: Session): boolean {
    if (!this.members.delete(session)) return false;
    this.list = this.list.filter((s) => s !== session);
    return true;
  }

  get size(): number {
    return this.members.size;
  }

  /**
   * Picks the member to receive one message. Connected members are preferred: a message only goes to a
   * disconnected (persistent) member when no member is connected, and waits in its session. `except`
   * excludes a member (used when redistributing that member's messages).
   */
  pick(strategy: SharedSubscriptionStrategy, publisher: string, isOnline: (s: Session) => boolean, except?: Session): Session | undefined {
    const n = this.list.length;
    if (n === 0) return undefined;
    if (strategy === 'sticky') {
      const start = hash(publisher) % n;
      return this.scan(start, isOnline, except) ?? this.scan(start, () => true, except);
    }
    const start = strategy === 'random' ? Math.floor(Math.random() * n) : this.cursor % n;
    const chosen = this.scan(start, isOnline, except) ?? this.scan(start, () => true, except);
    if (chosen !== undefined && strategy === 'round-robin') this.cursor = (this.list.indexOf(chosen) + 1) % n;
    return chosen;
  }

  private scan(start: number, ok: (s: Session) => boolean, except: Session | undefined): Session | undefined {
    const n = this.list.length;
    for (let i = 0; i < n; i++) {
      const s = this.list[(start + i) % n] as Session;
      if (s !== except && ok(s)) return s;
    }
    return undefined;
  }
}

/** FNV-1a: a stable, cheap hash for sticky assignment by publisher. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
