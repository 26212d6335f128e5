import { type AuthPacket, MqttError, ReasonCode } from '../../protocol/index.js';
import type { Connection } from '../connection.js';

/**
 * AUTH (MQTT 5.0 section 4.12). No enhanced authentication method is configured yet, so a CONNECT with
 * one is refused with 0x8C and an AUTH packet can only be a Protocol Error. [MQTT-4.12.0-1]
 */
export function handleAuth(c: Connection, _p: AuthPacket): undefined {
  throw new MqttError('MQTT_PROTOCOL_ERROR', ReasonCode.ProtocolError, 'AUTH without an authentication method', {
    specId: c.state === 'connected' ? 'MQTT-4.12.0-1' : 'MQTT-3.1.4-6',
  });
}
