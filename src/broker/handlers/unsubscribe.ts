import { PacketType, ReasonCode, type UnsubscribePacket } from '../../protocol/index.js';
import type { Connection } from '../connection.js';

/**
 * UNSUBSCRIBE (MQTT 5.0 section 3.10.4): each filter that matches a subscription exactly deletes it
 * ([MQTT-3.10.4-1]); no new messages are added for it ([MQTT-3.10.4-2]) while messages already in flight
 * complete ([MQTT-3.10.4-3]). The UNSUBACK has the same Packet Identifier ([MQTT-3.10.4-4]) and, in 5.0,
 * a Reason Code per filter ([MQTT-3.11.3-1]).
 */
export function handleUnsubscribe(c: Connection, p: UnsubscribePacket): void {
  const session = c.session;
  if (session === undefined) return;
  const codes: number[] = [];
  for (const filter of p.topicFilters) {
    const existed = c.broker.unsubscribe(session, filter);
    codes.push(existed ? ReasonCode.Success : ReasonCode.NoSubscriptionExisted);
  }
  c.sendPacket({ type: PacketType.Unsuback, packetId: p.packetId, reasonCodes: c.version === 5 ? codes : [] });
}
