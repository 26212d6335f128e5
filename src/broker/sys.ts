import { Buffer } from 'node:buffer';
import type { Broker } from './broker.js';
import type { Timer } from './clock.js';

/**
 * `$SYS/broker/...` topics with the broker's state, published as retained messages every `sysInterval`
 * seconds, only when a value changed. Names follow Mosquitto's where they overlap, so existing dashboards
 * work. Wildcard subscriptions starting with `#` or `+` do not see them ([MQTT-4.7.2-1]); subscribe to
 * `$SYS/#`.
 */
export class SysTopics {
  private timer: Timer | undefined;
  private readonly last = new Map<string, string>();

  constructor(private readonly broker: Broker) {}

  start(): void {
    if (this.broker.settings.sysInterval <= 0) return;
    this.publish();
    this.arm();
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }

  private arm(): void {
    this.timer = this.broker.clock.setTimer(() => {
      this.publish();
      this.arm();
    }, this.broker.settings.sysInterval * 1000);
  }

  /** The current values, by topic. */
  values(): Map<string, string> {
    const b = this.broker;
    const m = b.metrics;
    const uptime = Math.floor((b.clock.now() - m.startedAt) / 1000);
    const connected = b.connectedCount;
    const total = b.sessions.size;
    return new Map<string, string>([
      ['$SYS/broker/version', `mozzie version ${b.version}`],
      ['$SYS/broker/uptime', `${uptime} seconds`],
      ['$SYS/broker/clients/connected', String(connected)],
      ['$SYS/broker/clients/disconnected', String(total - connected)],
      ['$SYS/broker/clients/total', String(total)],
      ['$SYS/broker/clients/maximum', String(m.maxConnected)],
      ['$SYS/broker/clients/expired', String(m.sessionsExpired)],
      ['$SYS/broker/messages/received', String(m.packetsReceived)],
      ['$SYS/broker/messages/sent', String(m.packetsSent)],
      ['$SYS/broker/publish/messages/received', String(m.publishReceived)],
      ['$SYS/broker/publish/messages/sent', String(m.publishSent)],
      ['$SYS/broker/publish/messages/dropped', String(m.dropped)],
      ['$SYS/broker/bytes/received', String(m.bytesReceived)],
      ['$SYS/broker/bytes/sent', String(m.bytesSent)],
      ['$SYS/broker/subscriptions/count', String(b.subscriptions.size)],
      ['$SYS/broker/retained messages/count', String(b.retained.size)],
    ]);
  }

  publish(): void {
    for (const [topic, value] of this.values()) {
      if (this.last.get(topic) === value) continue;
      this.last.set(topic, value);
      this.broker.publishInternal(topic, Buffer.from(value), true);
    }
  }
}
