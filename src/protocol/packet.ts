import type { Buffer } from 'node:buffer';
import type { PacketType, ProtocolVersion, QoS } from './constants.js';
import type {
  AckProperties,
  AuthProperties,
  ConnackProperties,
  ConnectProperties,
  DisconnectProperties,
  PublishProperties,
  SubscribeProperties,
  UnsubscribeProperties,
  WillProperties,
} from './properties.js';

/**
 * MQTT Control Packets as a discriminated union on `type`. One shape serves every protocol version:
 * fields that a version cannot carry (properties, reason codes in 3.1.1) are absent or default when
 * decoded, and the encoder refuses values the chosen version cannot represent.
 */

export interface Will {
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: QoS;
  readonly retain: boolean;
  readonly properties?: WillProperties;
}

export interface ConnectPacket {
  readonly type: typeof PacketType.Connect;
  /** 3 = MQTT 3.1 ("MQIsdp"), 4 = 3.1.1, 5 = 5.0. */
  readonly protocolVersion: ProtocolVersion;
  readonly clientId: string;
  /** Clean Session (3.1, 3.1.1) or Clean Start (5.0): the same bit of the Connect Flags. */
  readonly clean: boolean;
  readonly keepAlive: number;
  readonly username?: string;
  readonly password?: Buffer;
  readonly will?: Will;
  readonly properties?: ConnectProperties;
}

export interface ConnackPacket {
  readonly type: typeof PacketType.Connack;
  readonly sessionPresent: boolean;
  /** 5.0 Reason Code, or the 3.1.1 Connect Return Code (0..5). */
  readonly reasonCode: number;
  readonly properties?: ConnackProperties;
}

export interface PublishPacket {
  readonly type: typeof PacketType.Publish;
  /** Empty only in 5.0 when a Topic Alias stands for it. */
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: QoS;
  readonly retain: boolean;
  readonly dup: boolean;
  /** Present exactly when qos > 0 ([MQTT-2.2.1-2]; 3.1.1 [MQTT-2.3.1-5]). */
  readonly packetId?: number;
  readonly properties?: PublishProperties;
}

/** PUBACK, PUBREC, PUBREL and PUBCOMP share one layout. */
export interface PubAckLikePacket<T extends PacketType> {
  readonly type: T;
  readonly packetId: number;
  /** 0 (Success) in 3.1.1. */
  readonly reasonCode: number;
  readonly properties?: AckProperties;
}
export type PubackPacket = PubAckLikePacket<typeof PacketType.Puback>;
export type PubrecPacket = PubAckLikePacket<typeof PacketType.Pubrec>;
export type PubrelPacket = PubAckLikePacket<typeof PacketType.Pubrel>;
export type PubcompPacket = PubAckLikePacket<typeof PacketType.Pubcomp>;

export type RetainHandling = 0 | 1 | 2;

export interface Subscription {
  readonly topicFilter: string;
  /** Maximum QoS the subscriber accepts. */
  readonly qos: QoS;
  /** 5.0: do not forward to the connection that published ([MQTT-3.8.3-3]). */
  readonly noLocal: boolean;
  /** 5.0: keep the RETAIN flag of the original PUBLISH when forwarding. */
  readonly retainAsPublished: boolean;
  /** 5.0: 0 send retained on subscribe, 1 only for a new subscription, 2 never. */
  readonly retainHandling: RetainHandling;
}

export interface SubscribePacket {
  readonly type: typeof PacketType.Subscribe;
  readonly packetId: number;
  readonly subscriptions: readonly Subscription[];
  readonly properties?: SubscribeProperties;
}

export interface SubackPacket {
  readonly type: typeof PacketType.Suback;
  readonly packetId: number;
  /** One per subscription, in order: granted QoS or a failure code (0x80 in 3.1.1). */
  readonly reasonCodes: readonly number[];
  readonly properties?: AckProperties;
}

export interface UnsubscribePacket {
  readonly type: typeof PacketType.Unsubscribe;
  readonly packetId: number;
  readonly topicFilters: readonly string[];
  readonly properties?: UnsubscribeProperties;
}

export interface UnsubackPacket {
  readonly type: typeof PacketType.Unsuback;
  readonly packetId: number;
  /** 5.0 only: one per topic filter. Empty in 3.1.1, whose UNSUBACK has no payload. */
  readonly reasonCodes: readonly number[];
  readonly properties?: AckProperties;
}

export interface PingreqPacket {
  readonly type: typeof PacketType.Pingreq;
}

export interface PingrespPacket {
  readonly type: typeof PacketType.Pingresp;
}

export interface DisconnectPacket {
  readonly type: typeof PacketType.Disconnect;
  /** 5.0 Reason Code; 0 (Normal disconnection) in 3.1.1. */
  readonly reasonCode: number;
  readonly properties?: DisconnectProperties;
}

/** 5.0 only. */
export interface AuthPacket {
  readonly type: typeof PacketType.Auth;
  readonly reasonCode: number;
  readonly properties?: AuthProperties;
}

export type Packet =
  | ConnectPacket
  | ConnackPacket
  | PublishPacket
  | PubackPacket
  | PubrecPacket
  | PubrelPacket
  | PubcompPacket
  | SubscribePacket
  | SubackPacket
  | UnsubscribePacket
  | UnsubackPacket
  | PingreqPacket
  | PingrespPacket
  | DisconnectPacket
  | AuthPacket;

/** The packet of a given type. */
export type PacketOf<T extends PacketType> = Extract<Packet, { readonly type: T }>;
