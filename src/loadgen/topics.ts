import { type ProtocolVersion, validateTopicFilter, validateTopicName } from '../protocol/index.js';

/**
 * A topic pattern: `%i` is the client's index (0, 1, ...), `%n` the message's sequence number within its
 * client. A pattern without `%n` gives each client one fixed topic, so its PUBLISH is encoded once; `%n`
 * makes every message's topic different and costs an encode per message.
 */
export class TopicPattern {
  readonly source: string;
  readonly perClient: boolean;
  readonly perMessage: boolean;

  constructor(source: string) {
    this.source = source;
    this.perClient = source.includes('%i');
    this.perMessage = source.includes('%n');
  }

  /** The topic client `index` publishes its message number `sequence` to. */
  topic(index: number, sequence = 0): string {
    let t = this.perClient ? this.source.replaceAll('%i', String(index)) : this.source;
    if (this.perMessage) t = t.replaceAll('%n', String(sequence));
    return t;
  }

  /** The filter subscriber `index` uses: `%i` replaced, every level holding `%n` made a `+` wildcard. */
  filter(index: number): string {
    const t = this.perClient ? this.source.replaceAll('%i', String(index)) : this.source;
    if (!this.perMessage) return t;
    return t
      .split('/')
      .map((level) => (level.includes('%n') ? '+' : level))
      .join('/');
  }

  /** Throws the codec's MqttError (with a readable message) when the pattern cannot make valid topics. */
  validate(asFilter: boolean, version: ProtocolVersion): void {
    if (asFilter) validateTopicFilter(this.filter(0), 'topic filter', version);
    else validateTopicName(this.topic(0, 0), 'topic', version);
  }
}
