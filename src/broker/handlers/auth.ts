import { type AuthPacket, MqttError, ReasonCode } from '../../protocol/index.js';
import type { Connection } from '../connection.js';
import { runAuthStep } from './connect.js';

/**
 * AUTH from the client (MQTT 5.0 section 4.12): the next step of the exchange CONNECT started (0x18), or
 * a re-authentication (0x19) once connected. The method must be the one of CONNECT ([MQTT-4.12.1-1]);
 * without enhanced authentication, AUTH is a Protocol Error ([MQTT-3.15.2-1] allows none of this then).
 */
export function handleAuth(c: Connection, p: AuthPacket): Promise<void> | undefined {
  const method = c.authMethod;
  if (method === undefined) {
    throw new MqttError('MQTT_PROTOCOL_ERROR', ReasonCode.ProtocolError, 'AUTH without an authentication method', {
      specId: c.state === 'connected' ? 'MQTT-4.12.0-1' : 'MQTT-3.1.4-6',
    });
  }
  if (p.properties?.authenticationMethod !== method) {
    throw new MqttError('MQTT_PROTOCOL_ERROR', ReasonCode.ProtocolError, `AUTH must use the authentication method ${method}`, {
      specId: 'MQTT-4.12.1-1',
    });
  }
  const data = p.properties.authenticationData;
  if (p.reasonCode === ReasonCode.ContinueAuthentication) {
    const exchange = c.authExchange;
    if (exchange === undefined)
      throw new MqttError('MQTT_PROTOCOL_ERROR', ReasonCode.ProtocolError, 'AUTH 0x18 with no exchange under way');
    return runAuthStep(c, () => exchange.next(data));
  }
  if (p.reasonCode === ReasonCode.ReAuthenticate && c.state === 'connected') {
    const m = c.broker.authMethods.get(method);
    if (m === undefined) throw new MqttError('MQTT_PROTOCOL_ERROR', ReasonCode.ProtocolError, `unknown authentication method ${method}`);
    const exchange = m.begin();
    c.authExchange = exchange;
    return runAuthStep(c, () => exchange.start(data, c.info));
  }
  throw new MqttError('MQTT_PROTOCOL_ERROR', ReasonCode.ProtocolError, `unexpected AUTH reason code 0x${p.reasonCode.toString(16)}`);
}
