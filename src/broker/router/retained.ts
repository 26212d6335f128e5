import type { Message } from '../message.js';

class Node {
  children: Map<string, Node> | undefined;
  message: Message | undefined;
  constructor(
    readonly parent: Node | undefined,
    readonly level: string,
  ) {}
}

/**
 * Retained messages by topic (MQTT 5.0 section 3.3.1.3), indexed as a trie of topic levels so a
 * wildcard subscription finds its matches without scanning every retained topic.
 */
export class RetainedIndex {
  private readonly root = new Node(undefined, '');
  private readonly byTopic = new Map<string, Node>();
  private bytes = 0;

  get size(): number {
    return this.byTopic.size;
  }

  /** Payload bytes held. */
  get payloadBytes(): number {
    return this.bytes;
  }

  get(topic: string): Message | undefined {
    return this.byTopic.get(topic)?.message;
  }

  /** Stores or replaces the retained message for its topic. */
  set(message: Message): void {
    let node: Node | undefined = this.byTopic.get(message.topic);
    if (node === undefined) {
      node = this.root;
      for (const level of message.topic.split('/')) {
        let child: Node | undefined = node.children?.get(level);
        if (child === undefined) {
          child = new Node(node, level);
          if (node.children === undefined) node.children = new Map();
          node.children.set(level, child);
        }
        node = child;
      }
      this.byTopic.set(message.topic, node);
    } else if (node.message !== undefined) {
      this.bytes -= node.message.payload.length;
    }
    node.message = message;
    this.bytes += message.payload.length;
  }

  /** Removes the retained message of a topic; returns true if there was one. */
  delete(topic: string): boolean {
    const node = this.byTopic.get(topic);
    if (node?.message === undefined) return false;
    this.bytes -= node.message.payload.length;
    node.message = undefined;
    this.byTopic.delete(topic);
    let n: Node | undefined = node;
    while (n?.parent !== undefined && n.message === undefined && (n.children?.size ?? 0) === 0) {
      n.parent.children?.delete(n.level);
      n = n.parent;
    }
    return true;
  }

  /**
   * The retained messages whose topics match a filter, lazily: a `#` subscriber over a large tree is
   * fed as its connection drains, not all at once. Leading wildcards skip `$` topics. [MQTT-4.7.2-1]
   */
  *match(filter: string): Generator<Message> {
    if (!filter.includes('+') && !filter.includes('#')) {
      const m = this.get(filter);
      if (m !== undefined) yield m;
      return;
    }
    yield* walk(this.root, filter.split('/'), 0);
  }

  /** Every retained message (for persistence and tests). */
  *all(): Generator<Message> {
    for (const node of this.byTopic.values()) if (node.message !== undefined) yield node.message;
  }
}

function* walk(node: Node, levels: readonly string[], i: number): Generator<Message> {
  if (i === levels.length) {
    if (node.message !== undefined) yield node.message;
    return;
  }
  const level = levels[i] as string;
  const children = node.children;
  if (level === '#') {
    // '#' matches the parent level itself and everything below it.
    if (node.message !== undefined && i > 0) yield node.message;
    if (children !== undefined) for (const [name, child] of children) if (!(i === 0 && name.startsWith('$'))) yield* subtree(child);
    return;
  }
  if (children === undefined) return;
  if (level === '+') {
    for (const [name, child] of children) {
      if (i === 0 && name.startsWith('$')) continue;
      yield* walk(child, levels, i + 1);
    }
    return;
  }
  const child = children.get(level);
  if (child !== undefined) yield* walk(child, levels, i + 1);
}

function* subtree(node: Node): Generator<Message> {
  if (node.message !== undefined) yield node.message;
  if (node.children !== undefined) for (const child of node.children.values()) yield* subtree(child);
}
