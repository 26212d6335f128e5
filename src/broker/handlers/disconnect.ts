import { type DisconnectPacket, MqttError, ReasonCode } from '../../protocol/index.js';
import type { Connection } from '../connection.js';

/**
 * DISCONNECT from the client (MQTT 5.0 section 3.14.4): only 0x00 Normal disconnection discards the Will
 * ([MQTT-3.14.4-3], [MQTT-3.1.2-10]); 0x04 Disconnect with Will Message and the error codes leave it to
 * be published ([MQTT-3.1.2-8]). A 5.0 client may change the Session Expiry
 * Interval, but not from 0 to non-zero (a Protocol Error, section 3.14.2.2.2).
 */
export function handleDisconnect(c: Connection, p: DisconnectPacket): void {
  const expiry = p.properties?.sessionExpiryInterval;
  if (expiry !== undefined && c.session !== undefined) {
    if (c.connectSessionExpiry === 0 && expiry !== 0) {
      throw new MqttError('MQTT_PROTOCOL_ERROR', ReasonCode.ProtocolError, 'Session Expiry Interval cannot be raised from 0 on DISCONNECT');
    }
    c.session.expiryInterval = Math.min(expiry, c.broker.settings.sessions.maxExpiryInterval);
  }
  const withWill = p.reasonCode !== ReasonCode.NormalDisconnection;
  if (!withWill) c.will = undefined;
  c.close(withWill ? 'client-disconnect-with-will' : 'client-disconnect', withWill);
}
