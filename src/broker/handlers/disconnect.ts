import { type DisconnectPacket, MqttError, ReasonCode } from '../../protocol/index.js';
import type { Connection } from '../connection.js';

/**
 * DISCONNECT from the client (MQTT 5.0 section 3.14.4): the Will is discarded unless the reason is
 * 0x04 Disconnect with Will Message ([MQTT-3.14.4-3]); a 5.0 client may change the Session Expiry
 * Interval, but not from 0 to non-zero (a Protocol Error, section 3.14.2.2.2).
 */
export function handleDisconnect(c: Connection, p: DisconnectPacket): void {
  const expiry = p.properties?.sessionExpiryInterval;
  if (expiry !== undefined && c.session !== undefined) {
    if (c.connectSessionExpiry === 0 && expiry !== 0) {
      throw new MqttError(
        'MQTT_PROTOCOL_ERROR',
        ReasonCode.ProtocolError,
        'Session Expiry Interval cannot be raised from 0 on DISCONNECT',
      );
    }
    c.session.expiryInterval = Math.min(expiry, c.broker.settings.sessions.maxExpiryInterval);
  }
  const withWill = p.reasonCode === ReasonCode.DisconnectWithWillMessage;
  if (!withWill) c.will = undefined;
  c.close(withWill ? 'client-disconnect-with-will' : 'client-disconnect', withWill);
}
