import { MqttError, parseSharedSubscription, topicMatches, validateTopicFilter } from '../protocol/index.js';
import { filtersIntersect, filterWithin, levels } from './filters.js';

/**
 * The ACL file, in the spirit of Mosquitto's acl_file:
 *
 *   # comment
 *   topic read public/#                 rules before any `user` line apply to every client, anonymous too
 *   user alice
 *   topic readwrite alice/#             rules after `user NAME` apply to that user
 *   topic deny alice/secret
 *   pattern write devices/%c/status     patterns apply to every client; %u = user name, %c = client id
 *
 * Access is read, write, readwrite (the default when left out), subscribe or deny. Once an ACL file is
 * configured, whatever no rule grants is refused:
 *  - PUBLISH to a topic needs a write or readwrite rule matching it, and no deny rule matching it;
 *  - SUBSCRIBE to a filter needs a read, readwrite or subscribe rule whose filter covers every topic the
 *    subscription can match (`sensors/+/temp` is within `read sensors/#`; `#` is not), and no deny rule
 *    that can match any topic the subscription can match. `subscribe` is the same as `read` here.
 *
 * Differences from Mosquitto: Mosquitto applies the rules before the first `user` line to anonymous
 * clients only; here they apply to everyone. Mosquitto checks read access per message as it delivers,
 * so a subscription to `#` succeeds and quietly skips denied topics; Mozzie decides once, at SUBSCRIBE,
 * and refuses a subscription that could ever carry a topic the client may not read. A `$share/{group}/`
 * prefix is ignored: what counts is the filter after it.
 *
 * A %u or %c is substituted only when it is a whole level and the value is usable as one: a client
 * without a user name, or whose user name or client id is empty, starts with `$` or contains `/`, `+` or `#`, gets nothing
 * from a granting pattern, and a deny pattern then denies everything below the level (fail closed).
 */

export type Access = 'read' | 'write' | 'readwrite' | 'subscribe' | 'deny';

const ACCESS: ReadonlySet<string> = new Set<Access>(['read', 'write', 'readwrite', 'subscribe', 'deny']);

interface Rule {
  readonly access: Access;
  readonly filter: string;
  readonly levels: readonly string[];
}

/** Who asks: the parts of a ClientInfo the rules use. */
export interface AclSubject {
  readonly clientId: string;
  readonly username: string | undefined;
}

/** The rules that apply to one client, with patterns substituted. */
interface ClientRules {
  readonly deny: readonly Rule[];
  readonly write: readonly Rule[];
  readonly read: readonly Rule[];
}

export type ParsedAcl = { readonly ok: true; readonly acl: Acl } | { readonly ok: false; readonly problems: readonly string[] };

export class Acl {
  /** Rules per client, computed once per ClientInfo object (the broker keeps one per connection). */
  private readonly perClient = new WeakMap<AclSubject, ClientRules>();

  constructor(
    private readonly general: readonly Rule[],
    private readonly users: ReadonlyMap<string, readonly Rule[]>,
    private readonly patterns: readonly Rule[],
  ) {}

  static parse(text: string): ParsedAcl {
    const general: Rule[] = [];
    const users = new Map<string, Rule[]>();
    const patterns: Rule[] = [];
    const problems: string[] = [];
    let section: Rule[] = general;
    text.split('\n').forEach((raw, i) => {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) return;
      const where = `line ${i + 1}`;
      const [keyword = '', rest = ''] = splitFirst(line);
      if (keyword === 'user') {
        if (rest === '') {
          problems.push(`${where}: user needs a name`);
          return;
        }
        section = users.get(rest) ?? [];
        users.set(rest, section);
        return;
      }
      if (keyword !== 'topic' && keyword !== 'pattern') {
        problems.push(`${where}: unknown keyword "${keyword}" (expected topic, pattern or user)`);
        return;
      }
      const rule = parseRule(rest, keyword === 'pattern');
      if (typeof rule === 'string') problems.push(`${where}: ${rule}`);
      else (keyword === 'pattern' ? patterns : section).push(rule);
    });
    return problems.length > 0 ? { ok: false, problems } : { ok: true, acl: new Acl(general, users, patterns) };
  }

  /** May this client publish to `topic`? */
  canPublish(who: AclSubject, topic: string): boolean {
    const rules = this.rulesFor(who);
    for (const r of rules.deny) if (topicMatches(r.filter, topic)) return false;
    for (const r of rules.write) if (topicMatches(r.filter, topic)) return true;
    return false;
  }

  /** May this client subscribe to `filter` (with or without a `$share/{group}/` prefix)? */
  canSubscribe(who: AclSubject, filter: string): boolean {
    let topicFilter = filter;
    try {
      topicFilter = parseSharedSubscription(filter)?.topicFilter ?? filter;
    } catch (err) {
      if (err instanceof MqttError) return false;
      throw err;
    }
    const wanted = levels(topicFilter);
    const rules = this.rulesFor(who);
    for (const r of rules.deny) if (filtersIntersect(wanted, r.levels)) return false;
    for (const r of rules.read) if (filterWithin(wanted, r.levels)) return true;
    return false;
  }

  private rulesFor(who: AclSubject): ClientRules {
    let rules = this.perClient.get(who);
    if (rules === undefined) {
      rules = this.compile(who);
      this.perClient.set(who, rules);
    }
    return rules;
  }

  private compile(who: AclSubject): ClientRules {
    const all: Rule[] = [...this.general];
    if (who.username !== undefined) all.push(...(this.users.get(who.username) ?? []));
    for (const p of this.patterns) {
      const r = substitute(p, who);
      if (r !== undefined) all.push(r);
    }
    return {
      deny: all.filter((r) => r.access === 'deny'),
      write: all.filter((r) => r.access === 'write' || r.access === 'readwrite'),
      read: all.filter((r) => r.access === 'read' || r.access === 'readwrite' || r.access === 'subscribe'),
    };
  }
}

function splitFirst(text: string): [string, string] {
  const m = /^(\S+)\s*(.*)$/.exec(text);
  return [m?.[1] ?? '', m?.[2] ?? ''];
}

/** `[access] TOPIC`; the access word may be left out (readwrite), which a topic with a space needs. */
function parseRule(text: string, pattern: boolean): Rule | string {
  let access: Access = 'readwrite';
  let filter = text;
  const [first, rest] = splitFirst(text);
  if (ACCESS.has(first) && rest !== '') {
    access = first as Access;
    filter = rest;
  }
  if (filter === '') return 'a rule needs a topic';
  if (filter.startsWith('$share/')) return 'rules name topics, not $share/ groups (the filter after the group is what is checked)';
  try {
    validateTopicFilter(filter, 'ACL topic');
  } catch (err) {
    if (err instanceof MqttError) return `invalid topic "${filter}": ${err.message}`;
    throw err;
  }
  const parts = levels(filter);
  if (pattern) {
    const bad = parts.find((l) => (l.includes('%u') || l.includes('%c')) && l !== '%u' && l !== '%c');
    if (bad !== undefined) return `%u and %c must be a whole topic level, not part of "${bad}"`;
  }
  return { access, filter, levels: parts };
}

/** A pattern with %u and %c replaced; undefined when it grants nothing to this client. */
function substitute(p: Rule, who: AclSubject): Rule | undefined {
  if (!p.levels.includes('%u') && !p.levels.includes('%c')) return p;
  const out: string[] = [];
  for (const level of p.levels) {
    const value = level === '%u' ? who.username : level === '%c' ? who.clientId : level;
    if (level === value || usable(value)) {
      out.push(value as string);
      continue;
    }
    // Fail closed: a deny covers everything from here down; a grant grants nothing.
    if (p.access !== 'deny') return undefined;
    out.push('#');
    break;
  }
  return { access: p.access, filter: out.join('/'), levels: out };
}

/** A value that stays one ordinary level: not empty, no separator or wildcard, no leading `$` (no `$SYS` by a client id). */
function usable(value: string | undefined): boolean {
  return value !== undefined && value.length > 0 && !/[/+#]/.test(value) && !value.startsWith('$');
}
