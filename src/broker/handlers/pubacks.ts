import {
  PacketType,
  type PubackPacket,
  type PubcompPacket,
  type PubrecPacket,
  type PubrelPacket,
  ReasonCode,
} from '../../protocol/index.js';
import type { Connection } from '../connection.js';

/**
 * Acknowledgements of QoS 1 and 2 (MQTT 5.0 sections 4.3.2, 4.3.3). Outbound: PUBACK ends QoS 1;
 * PUBREC turns QoS 2 into PUBREL (or ends it with a failure code); PUBCOMP ends it. Each freed slot lets
 * the next queued message go. Inbound: PUBREL releases the Packet Identifier and is answered PUBCOMP.
 */
export function handlePuback(c: Connection, p: PubackPacket): void {
  const s = c.session;
  const f = s?.inflight.get(p.packetId);
  if (s === undefined || f === undefined || f.state !== 'publish' || f.delivery.qos !== 1) {
    c.broker.logger.debug('PUBACK for no QoS 1 message in flight', { clientId: c.clientId, packetId: p.packetId });
    return;
  }
  s.inflight.delete(p.packetId);
  c.broker.persistence.removeDelivery(s, f.delivery);
  c.outbound.pump();
}

export function handlePubrec(c: Connection, p: PubrecPacket): void {
  const s = c.session;
  const f = s?.inflight.get(p.packetId);
  if (s === undefined || f === undefined || f.delivery.qos !== 2) {
    // 5.0: answer PUBREL 0x92 so the client can end its flow.
    c.sendPacket({ type: PacketType.Pubrel, packetId: p.packetId, reasonCode: c.version === 5 ? ReasonCode.PacketIdentifierNotFound : 0 });
    return;
  }
  if (p.reasonCode >= 0x80) {
    // A failure in PUBREC ends the flow; the Packet Identifier is free again (section 4.3.3).
    s.inflight.delete(p.packetId);
    c.broker.persistence.removeDelivery(s, f.delivery);
    c.outbound.pump();
    return;
  }
  // PUBREC below 0x80 is answered PUBREL with the same Packet Identifier. [MQTT-4.3.3-4]
  f.state = 'pubrel';
  if (s.stored) c.broker.persistence.updateDelivery(s, f.delivery, p.packetId, 'pubrel');
  c.sendPacket({ type: PacketType.Pubrel, packetId: p.packetId, reasonCode: 0 });
}

export function handlePubcomp(c: Connection, p: PubcompPacket): void {
  const s = c.session;
  const f = s?.inflight.get(p.packetId);
  if (s === undefined || f === undefined || f.state !== 'pubrel') {
    c.broker.logger.debug('PUBCOMP for no PUBREL in flight', { clientId: c.clientId, packetId: p.packetId });
    return;
  }
  s.inflight.delete(p.packetId);
  c.broker.persistence.removeDelivery(s, f.delivery);
  c.outbound.pump();
}

export function handlePubrel(c: Connection, p: PubrelPacket): void {
  const s = c.session;
  if (s === undefined) return;
  // [MQTT-4.3.3-11] PUBCOMP with the same Packet Identifier; 5.0 says 0x92 if it was unknown.
  const known = s.inboundQos2.delete(p.packetId);
  const reasonCode = known || c.version < 5 ? 0 : ReasonCode.PacketIdentifierNotFound;
  if (!known || !s.stored) {
    c.sendPacket({ type: PacketType.Pubcomp, packetId: p.packetId, reasonCode });
    return;
  }
  // The identifier may only be reused once its release is durable: otherwise a restart would take the
  // client's next PUBLISH with it for a duplicate.
  c.broker.persistence.inboundQos2(s, p.packetId, false);
  c.broker.persistence.afterCommit(
    () => {
      if (c.state === 'connected') c.sendPacket({ type: PacketType.Pubcomp, packetId: p.packetId, reasonCode });
    },
    (err) => c.abort(ReasonCode.ServerBusy, 'implementation-error', err.message),
  );
}
