import { PacketType } from '../../protocol/index.js';
import type { Connection } from '../connection.js';

/** The Server MUST send a PINGRESP packet in response to a PINGREQ packet. [MQTT-3.12.4-1] */
export function handlePingreq(c: Connection): void {
  c.sendPacket({ type: PacketType.Pingresp });
}
