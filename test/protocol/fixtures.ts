/**
 * Annotated wire bytes for every MQTT Control Packet of MQTT 3.1, 3.1.1 and 5.0, written by hand from the
 * OASIS specifications (not produced by our encoder), plus one malformed packet per validation rule the codec
 * implements. The codec tests decode, encode and round-trip them; the framer tests feed them in pieces; broker
 * tests can reuse them as raw client input.
 *
 * Byte notation (parsed by `hexBytes`):
 *   - hex byte pairs, e.g. `10 0e` or `c3bc`;
 *   - `"text"`: the ASCII bytes of printable text (no escapes, no `"` inside);
 *   - `61*200`: the byte 0x61 repeated 200 times;
 *   - `#` outside quotes starts a comment that runs to the end of the line.
 * Every length prefix and Remaining Length is written out by hand.
 */
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { MqttError, type MqttErrorCode, type Packet, type ProtocolVersion } from '../../src/protocol/index.js';

export interface ValidFixture {
  readonly name: string;
  readonly version: ProtocolVersion;
  /** Annotated bytes, see the notation above. */
  readonly hex: string;
  readonly packet: Packet;
  /**
   * The bytes are a valid but longer form (e.g. a 5.0 PUBACK with an explicit Reason Code 0x00): they decode to
   * `packet`, but the encoder is expected to write the shorter form, so encode(packet) is not compared to them.
   */
  readonly nonCanonical?: true;
}

export interface ExpectedError {
  readonly code: MqttErrorCode;
  /** The MQTT 5.0 Reason Code the error carries (0x81 Malformed Packet, 0x82 Protocol Error, ...). */
  readonly reasonCode?: number;
}

export interface InvalidFixture {
  /** Starts with the normative statement broken, `[MQTT-x.y.z-n]`, where one applies. */
  readonly name: string;
  readonly version: ProtocolVersion;
  readonly hex: string;
  readonly error: ExpectedError;
  /**
   * The fault is that the buffer does not hold exactly one packet (too short, bytes after the end): only
   * decodePacket, which is handed a whole buffer, can see it. A framer just waits for more bytes or reads the
   * extra bytes as the next packet.
   */
  readonly wholeBufferOnly?: true;
}

const HEX_TOKEN = /^(?:[0-9a-fA-F]{2})+$/;
const REPEAT_TOKEN = /^([0-9a-fA-F]{2})\*(\d+)$/;

/** Parses the annotated byte notation described at the top of this file. */
export function hexBytes(annotated: string): Buffer {
  const out: number[] = [];
  for (const line of annotated.split('\n')) {
    let i = 0;
    while (i < line.length) {
      const c = line.charAt(i);
      if (c === '#') break;
      if (c === ' ' || c === '\t' || c === '\r') {
        i++;
        continue;
      }
      if (c === '"') {
        const end = line.indexOf('"', i + 1);
        if (end === -1) throw new Error(`unterminated string in fixture line: ${line}`);
        for (let k = i + 1; k < end; k++) {
          const code = line.charCodeAt(k);
          if (code < 0x20 || code > 0x7e) throw new Error(`non-ASCII character in quoted fixture text: ${line}`);
          out.push(code);
        }
        i = end + 1;
        continue;
      }
      let j = i;
      while (j < line.length && !' \t\r#"'.includes(line.charAt(j))) j++;
      const token = line.slice(i, j);
      const repeat = REPEAT_TOKEN.exec(token);
      if (repeat !== null) {
        const value = Number.parseInt(repeat[1] ?? '', 16);
        const count = Number.parseInt(repeat[2] ?? '', 10);
        for (let k = 0; k < count; k++) out.push(value);
      } else if (HEX_TOKEN.test(token)) {
        for (let k = 0; k < token.length; k += 2) out.push(Number.parseInt(token.slice(k, k + 2), 16));
      } else {
        throw new Error(`bad token "${token}" in fixture line: ${line}`);
      }
      i = j;
    }
  }
  return Buffer.from(out);
}

/** Asserts that `fn` throws an MqttError with the expected code and, when given, Reason Code. */
export function assertMqttError(fn: () => unknown, expected: ExpectedError): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof MqttError, `expected an MqttError, got ${String(err)}`);
    assert.equal(err.code, expected.code, err.message);
    if (expected.reasonCode !== undefined) {
      assert.equal(
        err.reasonCode,
        expected.reasonCode,
        `Reason Code 0x${err.reasonCode.toString(16)} instead of 0x${expected.reasonCode.toString(16)}: ${err.message}`,
      );
    }
    return true;
  });
}

export function versionLabel(version: ProtocolVersion): string {
  return version === 3 ? 'MQTT 3.1' : version === 4 ? 'MQTT 3.1.1' : 'MQTT 5.0';
}

const b = (text: string): Buffer => Buffer.from(text, 'utf8');
const bin = (...bytes: number[]): Buffer => Buffer.from(bytes);
const EMPTY = Buffer.alloc(0);

// ---------------------------------------------------------------------------------------------------------------
// Valid packets
// ---------------------------------------------------------------------------------------------------------------

const connect: ValidFixture[] = [
  {
    name: 'CONNECT 3.1 "MQIsdp" level 3, clean session, no will, user name or password',
    version: 3,
    hex: `
      10 11              # CONNECT, Remaining Length 17
      00 06 "MQIsdp"     # Protocol Name
      03                 # Protocol Level 3 (MQTT 3.1)
      02                 # Connect Flags: Clean Session
      00 3c              # Keep Alive 60 s
      00 03 "c31"        # Client Identifier
    `,
    packet: { type: 1, protocolVersion: 3, clientId: 'c31', clean: true, keepAlive: 60 },
  },
  {
    name: 'CONNECT 3.1 with will (QoS 1, retained), user name and password',
    version: 3,
    hex: `
      10 20              # CONNECT, Remaining Length 32
      00 06 "MQIsdp"     # Protocol Name
      03                 # Protocol Level 3
      ee                 # Connect Flags: user name, password, will retain, will QoS 01, will, clean session
      00 1e              # Keep Alive 30 s
      00 02 "id"         # Client Identifier
      00 02 "wt"         # Will Topic
      00 02 "wm"         # Will Message
      00 02 "un"         # User Name
      00 02 "pw"         # Password
    `,
    packet: {
      type: 1,
      protocolVersion: 3,
      clientId: 'id',
      clean: true,
      keepAlive: 30,
      will: { topic: 'wt', payload: b('wm'), qos: 1, retain: true },
      username: 'un',
      password: b('pw'),
    },
  },
  {
    name: 'CONNECT 3.1.1 minimal: clean session, client id, no optional fields',
    version: 4,
    hex: `
      10 0e              # CONNECT, Remaining Length 14
      00 04 "MQTT"       # Protocol Name
      04                 # Protocol Level 4 (MQTT 3.1.1)
      02                 # Connect Flags: Clean Session
      00 3c              # Keep Alive 60 s
      00 02 "c1"         # Client Identifier
    `,
    packet: { type: 1, protocolVersion: 4, clientId: 'c1', clean: true, keepAlive: 60 },
  },
  {
    name: 'CONNECT 3.1.1 spec example flags 0xCE: will QoS 1, user name, binary password, Keep Alive 10',
    version: 4,
    hex: `
      10 2a              # CONNECT, Remaining Length 42
      00 04 "MQTT"       # Protocol Name
      04                 # Protocol Level 4
      ce                 # Connect Flags: user name, password, will QoS 01, will, clean session
      00 0a              # Keep Alive 10 s
      00 06 "client"     # Client Identifier
      00 06 "will/t"     # Will Topic
      00 03 "bye"        # Will Message
      00 04 "user"       # User Name
      00 03 00 ff 7f     # Password: binary data, 0x00 allowed
    `,
    packet: {
      type: 1,
      protocolVersion: 4,
      clientId: 'client',
      clean: true,
      keepAlive: 10,
      will: { topic: 'will/t', payload: b('bye'), qos: 1, retain: false },
      username: 'user',
      password: bin(0x00, 0xff, 0x7f),
    },
  },
  {
    name: 'CONNECT 3.1.1 will QoS 2 retained with empty message, empty client id, user name only, Keep Alive 65535',
    version: 4,
    hex: `
      10 16              # CONNECT, Remaining Length 22
      00 04 "MQTT"       # Protocol Name
      04                 # Protocol Level 4
      b4                 # Connect Flags: user name, will retain, will QoS 10, will; Clean Session 0
      ff ff              # Keep Alive 65535 s
      00 00              # Client Identifier "" (zero length)
      00 03 "a/b"        # Will Topic
      00 00              # Will Message: zero length
      00 01 "u"          # User Name
    `,
    packet: {
      type: 1,
      protocolVersion: 4,
      clientId: '',
      clean: false,
      keepAlive: 65535,
      will: { topic: 'a/b', payload: EMPTY, qos: 2, retain: true },
      username: 'u',
    },
  },
  {
    name: 'CONNECT 5.0 minimal: Property Length 0',
    version: 5,
    hex: `
      10 0f              # CONNECT, Remaining Length 15
      00 04 "MQTT"       # Protocol Name
      05                 # Protocol Version 5
      02                 # Connect Flags: Clean Start
      00 3c              # Keep Alive 60 s
      00                 # Property Length 0
      00 02 "c5"         # Client Identifier
    `,
    packet: { type: 1, protocolVersion: 5, clientId: 'c5', clean: true, keepAlive: 60 },
  },
  {
    name: 'CONNECT 5.0 spec example (flags 0xCE, Keep Alive 10, Session Expiry Interval 10) with every Will Property',
    version: 5,
    hex: `
      10 64              # CONNECT, Remaining Length 100
      00 04 "MQTT"       # Protocol Name
      05                 # Protocol Version 5
      ce                 # Connect Flags: user name, password, will QoS 01, will, clean start
      00 0a              # Keep Alive 10 s
      05                 # Property Length 5
      11 00 00 00 0a     #   Session Expiry Interval 10
      00 04 "cid5"       # Client Identifier
      34                 # Will Property Length 52
      18 00 00 00 05     #   Will Delay Interval 5
      01 01              #   Payload Format Indicator 1 (UTF-8)
      02 00 00 0e 10     #   Message Expiry Interval 3600
      03 00 0a "text/plain"      # Content Type
      08 00 05 "r/e/s"           # Response Topic
      09 00 02 ca fe             # Correlation Data
      26 00 01 "k" 00 01 "v"     # User Property k=v
      26 00 01 "k" 00 01 "w"     # User Property k=w (same name again)
      00 05 "w/top"      # Will Topic
      00 04 "bye!"       # Will Payload
      00 04 "user"       # User Name
      00 04 "pass"       # Password
    `,
    packet: {
      type: 1,
      protocolVersion: 5,
      clientId: 'cid5',
      clean: true,
      keepAlive: 10,
      properties: { sessionExpiryInterval: 10 },
      will: {
        topic: 'w/top',
        payload: b('bye!'),
        qos: 1,
        retain: false,
        properties: {
          willDelayInterval: 5,
          payloadFormatIndicator: 1,
          messageExpiryInterval: 3600,
          contentType: 'text/plain',
          responseTopic: 'r/e/s',
          correlationData: bin(0xca, 0xfe),
          userProperties: [
            ['k', 'v'],
            ['k', 'w'],
          ],
        },
      },
      username: 'user',
      password: b('pass'),
    },
  },
  {
    name: 'CONNECT 5.0 with every CONNECT property, password without user name, empty client id',
    version: 5,
    hex: `
      10 42              # CONNECT, Remaining Length 66
      00 04 "MQTT"       # Protocol Name
      05                 # Protocol Version 5
      40                 # Connect Flags: password only (5.0 allows it without a user name)
      00 00              # Keep Alive 0
      30                 # Property Length 48
      11 ff ff ff ff     #   Session Expiry Interval 0xFFFFFFFF (never)
      21 00 14           #   Receive Maximum 20
      27 00 10 00 00     #   Maximum Packet Size 1048576
      22 00 0a           #   Topic Alias Maximum 10
      19 01              #   Request Response Information 1
      17 00              #   Request Problem Information 0
      26 00 04 "name" 00 05 "value"  # User Property
      15 00 05 "SCRAM"   #   Authentication Method
      16 00 03 01 02 03  #   Authentication Data
      00 00              # Client Identifier ""
      00 03 "pwd"        # Password
    `,
    packet: {
      type: 1,
      protocolVersion: 5,
      clientId: '',
      clean: false,
      keepAlive: 0,
      properties: {
        sessionExpiryInterval: 0xffffffff,
        receiveMaximum: 20,
        maximumPacketSize: 1048576,
        topicAliasMaximum: 10,
        requestResponseInformation: true,
        requestProblemInformation: false,
        userProperties: [['name', 'value']],
        authenticationMethod: 'SCRAM',
        authenticationData: bin(1, 2, 3),
      },
      password: b('pwd'),
    },
  },
  {
    name: 'CONNECT 5.0 will with Will Property Length 0, retained QoS 0, UTF-8 client id, user name',
    version: 5,
    hex: `
      10 1c              # CONNECT, Remaining Length 28
      00 04 "MQTT"       # Protocol Name
      05                 # Protocol Version 5
      a6                 # Connect Flags: user name, will retain, will QoS 00, will, clean start
      00 05              # Keep Alive 5 s
      00                 # Property Length 0
      00 05 c3bc "ber"   # Client Identifier "über" (U+00FC is C3 BC)
      00                 # Will Property Length 0
      00 01 "t"          # Will Topic
      00 00              # Will Payload: zero length
      00 02 "me"         # User Name
    `,
    packet: {
      type: 1,
      protocolVersion: 5,
      clientId: 'über',
      clean: true,
      keepAlive: 5,
      will: { topic: 't', payload: EMPTY, qos: 0, retain: true },
      username: 'me',
    },
  },
];

const connack: ValidFixture[] = [
  {
    name: 'CONNACK 3.1 connection accepted',
    version: 3,
    hex: '20 02 00 00  # CONNACK, reserved byte, return code 0',
    packet: { type: 2, sessionPresent: false, reasonCode: 0 },
  },
  {
    name: 'CONNACK 3.1 refused: not authorized (5)',
    version: 3,
    hex: '20 02 00 05  # CONNACK, reserved byte, return code 5',
    packet: { type: 2, sessionPresent: false, reasonCode: 5 },
  },
  {
    name: 'CONNACK 3.1.1 session present',
    version: 4,
    hex: '20 02 01 00  # CONNACK, Session Present 1, return code 0',
    packet: { type: 2, sessionPresent: true, reasonCode: 0 },
  },
  {
    name: 'CONNACK 3.1.1 refused: bad user name or password (4)',
    version: 4,
    hex: '20 02 00 04',
    packet: { type: 2, sessionPresent: false, reasonCode: 4 },
  },
  {
    name: 'CONNACK 3.1.1 refused: unacceptable protocol version (1)',
    version: 4,
    hex: '20 02 00 01',
    packet: { type: 2, sessionPresent: false, reasonCode: 1 },
  },
  {
    name: 'CONNACK 5.0 success without properties',
    version: 5,
    hex: '20 03 00 00 00  # CONNACK, flags 0, Reason Code 0x00, Property Length 0',
    packet: { type: 2, sessionPresent: false, reasonCode: 0 },
  },
  {
    name: 'CONNACK 5.0 session present',
    version: 5,
    hex: '20 03 01 00 00',
    packet: { type: 2, sessionPresent: true, reasonCode: 0 },
  },
  {
    name: 'CONNACK 5.0 Unsupported Protocol Version (0x84)',
    version: 5,
    hex: '20 03 00 84 00',
    packet: { type: 2, sessionPresent: false, reasonCode: 0x84 },
  },
  {
    name: 'CONNACK 5.0 Not authorized (0x87) with a Reason String',
    version: 5,
    hex: `
      20 0c              # CONNACK, Remaining Length 12
      00                 # Connect Acknowledge Flags
      87                 # Reason Code: Not authorized
      09                 # Property Length 9
      1f 00 06 "denied"  #   Reason String
    `,
    packet: { type: 2, sessionPresent: false, reasonCode: 0x87, properties: { reasonString: 'denied' } },
  },
  {
    name: 'CONNACK 5.0 with every CONNACK property',
    version: 5,
    hex: `
      20 56              # CONNACK, Remaining Length 86
      00                 # Connect Acknowledge Flags
      00                 # Reason Code: Success
      53                 # Property Length 83
      11 00 00 00 78     #   Session Expiry Interval 120
      21 00 64           #   Receive Maximum 100
      24 01              #   Maximum QoS 1
      25 00              #   Retain Available 0
      27 00 00 ff ff     #   Maximum Packet Size 65535
      12 00 04 "auto"    #   Assigned Client Identifier
      22 00 05           #   Topic Alias Maximum 5
      1f 00 02 "ok"      #   Reason String
      26 00 01 "a" 00 01 "1"  # User Property a=1
      26 00 01 "a" 00 01 "2"  # User Property a=2
      28 01              #   Wildcard Subscription Available 1
      29 00              #   Subscription Identifiers Available 0
      2a 01              #   Shared Subscription Available 1
      13 00 1e           #   Server Keep Alive 30
      1a 00 04 "resp"    #   Response Information
      1c 00 05 "other"   #   Server Reference
      15 00 05 "SCRAM"   #   Authentication Method
      16 00 02 ab cd     #   Authentication Data
    `,
    packet: {
      type: 2,
      sessionPresent: false,
      reasonCode: 0,
      properties: {
        sessionExpiryInterval: 120,
        receiveMaximum: 100,
        maximumQoS: 1,
        retainAvailable: false,
        maximumPacketSize: 65535,
        assignedClientIdentifier: 'auto',
        topicAliasMaximum: 5,
        reasonString: 'ok',
        userProperties: [
          ['a', '1'],
          ['a', '2'],
        ],
        wildcardSubscriptionAvailable: true,
        subscriptionIdentifiersAvailable: false,
        sharedSubscriptionAvailable: true,
        serverKeepAlive: 30,
        responseInformation: 'resp',
        serverReference: 'other',
        authenticationMethod: 'SCRAM',
        authenticationData: bin(0xab, 0xcd),
      },
    },
  },
];

const publish: ValidFixture[] = [
  {
    name: 'PUBLISH 3.1 QoS 1',
    version: 3,
    hex: `
      32 09              # PUBLISH, QoS 1; Remaining Length 9
      00 03 "a/b"        # Topic Name
      00 01              # Packet Identifier 1
      "hi"               # Payload
    `,
    packet: { type: 3, topic: 'a/b', payload: b('hi'), qos: 1, retain: false, dup: false, packetId: 1 },
  },
  {
    name: 'PUBLISH 3.1.1 QoS 0',
    version: 4,
    hex: `
      30 07              # PUBLISH, QoS 0; Remaining Length 7
      00 03 "a/b"        # Topic Name (no Packet Identifier at QoS 0)
      "hi"               # Payload
    `,
    packet: { type: 3, topic: 'a/b', payload: b('hi'), qos: 0, retain: false, dup: false },
  },
  {
    name: 'PUBLISH 3.1.1 QoS 1 retained',
    version: 4,
    hex: '33 09 00 03 "a/b" 00 0a "hi"  # QoS 1 + RETAIN, Packet Identifier 10',
    packet: { type: 3, topic: 'a/b', payload: b('hi'), qos: 1, retain: true, dup: false, packetId: 10 },
  },
  {
    name: 'PUBLISH 3.1.1 QoS 2 DUP with empty payload, Packet Identifier 65535',
    version: 4,
    hex: '3c 07 00 03 "a/b" ff ff  # DUP + QoS 2, zero-length payload',
    packet: { type: 3, topic: 'a/b', payload: EMPTY, qos: 2, retain: false, dup: true, packetId: 65535 },
  },
  {
    name: 'PUBLISH 3.1.1 QoS 1 with DUP and RETAIN',
    version: 4,
    hex: '3b 09 00 03 "a/b" 12 34 "hi"  # DUP + QoS 1 + RETAIN, Packet Identifier 0x1234',
    packet: { type: 3, topic: 'a/b', payload: b('hi'), qos: 1, retain: true, dup: true, packetId: 0x1234 },
  },
  {
    name: 'PUBLISH 3.1.1 UTF-8 topic "ü/€"',
    version: 4,
    hex: `
      30 09              # PUBLISH, QoS 0; Remaining Length 9
      00 06 c3bc 2f e282ac   # Topic Name: U+00FC "/" U+20AC
      "x"                # Payload
    `,
    packet: { type: 3, topic: 'ü/€', payload: b('x'), qos: 0, retain: false, dup: false },
  },
  {
    name: 'PUBLISH 3.1.1 topic with a space, empty payload',
    version: 4,
    hex: '30 12 00 10 "Accounts payable"',
    packet: { type: 3, topic: 'Accounts payable', payload: EMPTY, qos: 0, retain: false, dup: false },
  },
  {
    name: 'PUBLISH 3.1.1 200-byte payload: two-byte Remaining Length',
    version: 4,
    hex: `
      30 cb 01           # PUBLISH; Remaining Length 203 = 0x4b + 0x01 * 128
      00 01 "t"          # Topic Name
      61*200             # Payload: 200 x "a"
    `,
    packet: { type: 3, topic: 't', payload: Buffer.alloc(200, 0x61), qos: 0, retain: false, dup: false },
  },
  {
    name: 'PUBLISH 5.0 QoS 0 with Property Length 0',
    version: 5,
    hex: '30 08 00 03 "a/b" 00 "hi"  # Topic Name, Property Length 0, Payload',
    packet: { type: 3, topic: 'a/b', payload: b('hi'), qos: 0, retain: false, dup: false },
  },
  {
    name: 'PUBLISH 5.0 spec example: topic a/b, Packet Identifier 10, no properties, empty payload',
    version: 5,
    hex: `
      32 08              # PUBLISH, QoS 1; Remaining Length 8
      00 03 "a/b"        # Topic Name
      00 0a              # Packet Identifier 10
      00                 # Property Length 0
    `,
    packet: { type: 3, topic: 'a/b', payload: EMPTY, qos: 1, retain: false, dup: false, packetId: 10 },
  },
  {
    name: 'PUBLISH 5.0 with every PUBLISH property, three Subscription Identifiers, repeated User Property names',
    version: 5,
    hex: `
      32 69              # PUBLISH, QoS 1; Remaining Length 105
      00 0c "sensors/temp"   # Topic Name
      00 01              # Packet Identifier 1
      54                 # Property Length 84
      01 01              #   Payload Format Indicator 1
      02 00 00 00 3c     #   Message Expiry Interval 60
      23 00 05           #   Topic Alias 5
      08 00 05 "reply"   #   Response Topic
      09 00 04 00 01 02 03       # Correlation Data
      26 00 03 "key" 00 02 "v1"  # User Property key=v1
      26 00 03 "key" 00 02 "v2"  # User Property key=v2
      26 00 05 "other" 00 00     # User Property other="" (empty value)
      0b 01              #   Subscription Identifier 1
      0b 80 01           #   Subscription Identifier 128 (two-byte Variable Byte Integer)
      0b ff ff ff 7f     #   Subscription Identifier 268435455 (largest)
      03 00 10 "application/json"  # Content Type
      "21.5"             # Payload
    `,
    packet: {
      type: 3,
      topic: 'sensors/temp',
      payload: b('21.5'),
      qos: 1,
      retain: false,
      dup: false,
      packetId: 1,
      properties: {
        payloadFormatIndicator: 1,
        messageExpiryInterval: 60,
        topicAlias: 5,
        responseTopic: 'reply',
        correlationData: bin(0, 1, 2, 3),
        userProperties: [
          ['key', 'v1'],
          ['key', 'v2'],
          ['other', ''],
        ],
        subscriptionIdentifiers: [1, 128, 268435455],
        contentType: 'application/json',
      },
    },
  },
  {
    name: 'PUBLISH 5.0 Topic Alias with zero-length Topic Name',
    version: 5,
    hex: `
      30 07              # PUBLISH, QoS 0; Remaining Length 7
      00 00              # Topic Name "" (the alias stands for it)
      03                 # Property Length 3
      23 00 05           #   Topic Alias 5
      "p"                # Payload
    `,
    packet: { type: 3, topic: '', payload: b('p'), qos: 0, retain: false, dup: false, properties: { topicAlias: 5 } },
  },
  {
    name: 'PUBLISH 5.0 retained, Topic Name and Topic Alias (sets the mapping)',
    version: 5,
    hex: '31 0a 00 03 "x/y" 03 23 00 01 "v"  # RETAIN; Topic Alias 1',
    packet: { type: 3, topic: 'x/y', payload: b('v'), qos: 0, retain: true, dup: false, properties: { topicAlias: 1 } },
  },
  {
    name: 'PUBLISH 5.0 QoS 2 with two-byte Property Length and two-byte Remaining Length',
    version: 5,
    hex: `
      34 8f 01           # PUBLISH, QoS 2; Remaining Length 143
      00 01 "t"          # Topic Name
      00 02              # Packet Identifier 2
      88 01              # Property Length 136
      26 00 01 "k" 00 82 78*130  # User Property k = 130 x "x"
    `,
    packet: {
      type: 3,
      topic: 't',
      payload: EMPTY,
      qos: 2,
      retain: false,
      dup: false,
      packetId: 2,
      properties: { userProperties: [['k', 'x'.repeat(130)]] },
    },
  },
  {
    name: '[MQTT-1.5.4-3] PUBLISH 5.0 topic starting with U+FEFF keeps it',
    version: 5,
    hex: '30 07 00 04 efbbbf "a" 00  # Topic Name: EF BB BF 61 is U+FEFF "a"',
    packet: { type: 3, topic: '\uFEFFa', payload: EMPTY, qos: 0, retain: false, dup: false },
  },
  {
    name: 'PUBLISH 5.0 topic with a 4-byte UTF-8 character (U+1F600)',
    version: 5,
    hex: '30 09 00 06 "a/" f09f9880 00',
    packet: { type: 3, topic: 'a/\u{1F600}', payload: EMPTY, qos: 0, retain: false, dup: false },
  },
];

/** PUBACK, PUBREC, PUBREL (flags 0010) and PUBCOMP. */
const pubacks: ValidFixture[] = [
  { name: 'PUBACK 3.1', version: 3, hex: '40 02 00 01', packet: { type: 4, packetId: 1, reasonCode: 0 } },
  { name: 'PUBREC 3.1', version: 3, hex: '50 02 00 02', packet: { type: 5, packetId: 2, reasonCode: 0 } },
  { name: 'PUBREL 3.1', version: 3, hex: '62 02 00 03  # flags 0010', packet: { type: 6, packetId: 3, reasonCode: 0 } },
  { name: 'PUBCOMP 3.1', version: 3, hex: '70 02 00 04', packet: { type: 7, packetId: 4, reasonCode: 0 } },
  { name: 'PUBACK 3.1.1', version: 4, hex: '40 02 12 34', packet: { type: 4, packetId: 0x1234, reasonCode: 0 } },
  { name: 'PUBREC 3.1.1', version: 4, hex: '50 02 ff ff', packet: { type: 5, packetId: 65535, reasonCode: 0 } },
  { name: 'PUBREL 3.1.1', version: 4, hex: '62 02 00 0a  # flags 0010', packet: { type: 6, packetId: 10, reasonCode: 0 } },
  { name: 'PUBCOMP 3.1.1', version: 4, hex: '70 02 00 0a', packet: { type: 7, packetId: 10, reasonCode: 0 } },
  {
    name: 'PUBACK 5.0 short form: Remaining Length 2 means Success',
    version: 5,
    hex: '40 02 00 05',
    packet: { type: 4, packetId: 5, reasonCode: 0 },
  },
  { name: 'PUBREC 5.0 short form', version: 5, hex: '50 02 00 06', packet: { type: 5, packetId: 6, reasonCode: 0 } },
  { name: 'PUBREL 5.0 short form', version: 5, hex: '62 02 00 07', packet: { type: 6, packetId: 7, reasonCode: 0 } },
  { name: 'PUBCOMP 5.0 short form', version: 5, hex: '70 02 00 08', packet: { type: 7, packetId: 8, reasonCode: 0 } },
  {
    name: 'PUBACK 5.0 No matching subscribers (0x10) without properties',
    version: 5,
    hex: '40 03 00 09 10  # Packet Identifier 9, Reason Code, no Property Length',
    packet: { type: 4, packetId: 9, reasonCode: 0x10 },
  },
  {
    name: 'PUBREC 5.0 Unspecified error (0x80) without properties',
    version: 5,
    hex: '50 03 00 0a 80',
    packet: { type: 5, packetId: 10, reasonCode: 0x80 },
  },
  {
    name: 'PUBREL 5.0 Packet Identifier not found (0x92)',
    version: 5,
    hex: '62 03 00 0b 92',
    packet: { type: 6, packetId: 11, reasonCode: 0x92 },
  },
  {
    name: 'PUBCOMP 5.0 Packet Identifier not found (0x92)',
    version: 5,
    hex: '70 03 00 0c 92',
    packet: { type: 7, packetId: 12, reasonCode: 0x92 },
  },
  {
    name: 'PUBACK 5.0 Success with Reason String and User Property',
    version: 5,
    hex: `
      40 12              # PUBACK, Remaining Length 18
      00 0d              # Packet Identifier 13
      00                 # Reason Code: Success
      0e                 # Property Length 14
      1f 00 04 "fine"    #   Reason String
      26 00 01 "a" 00 01 "b"  # User Property
    `,
    packet: { type: 4, packetId: 13, reasonCode: 0, properties: { reasonString: 'fine', userProperties: [['a', 'b']] } },
  },
  {
    name: 'PUBREC 5.0 Quota exceeded (0x97) with Reason String',
    version: 5,
    hex: '50 0c 00 0e 97 08 1f 00 05 "quota"',
    packet: { type: 5, packetId: 14, reasonCode: 0x97, properties: { reasonString: 'quota' } },
  },
  {
    name: 'PUBREL 5.0 with User Property',
    version: 5,
    hex: '62 0d 00 0f 92 09 26 00 02 "id" 00 02 "42"',
    packet: { type: 6, packetId: 15, reasonCode: 0x92, properties: { userProperties: [['id', '42']] } },
  },
  {
    name: 'PUBCOMP 5.0 Success with Reason String',
    version: 5,
    hex: '70 0a 00 10 00 06 1f 00 03 "ok!"',
    packet: { type: 7, packetId: 16, reasonCode: 0, properties: { reasonString: 'ok!' } },
  },
  {
    name: 'PUBACK 5.0 explicit Reason Code 0x00 without properties (Remaining Length 3)',
    version: 5,
    hex: '40 03 00 11 00',
    packet: { type: 4, packetId: 17, reasonCode: 0 },
    nonCanonical: true,
  },
  {
    name: 'PUBREC 5.0 explicit Reason Code 0x00 and Property Length 0 (Remaining Length 4)',
    version: 5,
    hex: '50 04 00 12 00 00',
    packet: { type: 5, packetId: 18, reasonCode: 0 },
    nonCanonical: true,
  },
];

const subscribe: ValidFixture[] = [
  {
    name: 'SUBSCRIBE 3.1 one filter',
    version: 3,
    hex: '82 08 00 01 00 03 "a/b" 01  # flags 0010; Packet Identifier 1; a/b QoS 1',
    packet: {
      type: 8,
      packetId: 1,
      subscriptions: [{ topicFilter: 'a/b', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
    },
  },
  {
    name: 'SUBSCRIBE 3.1.1 four filters (spec example a/b QoS 1, c/d QoS 2, then # and +)',
    version: 4,
    hex: `
      82 24              # SUBSCRIBE, flags 0010; Remaining Length 36
      00 0a              # Packet Identifier 10
      00 03 "a/b" 01     # Topic Filter, Requested QoS 1
      00 03 "c/d" 02     # Topic Filter, Requested QoS 2
      00 01 "#" 00       # Topic Filter, Requested QoS 0
      00 0f "sport/+/player1" 01
    `,
    packet: {
      type: 8,
      packetId: 10,
      subscriptions: [
        { topicFilter: 'a/b', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 },
        { topicFilter: 'c/d', qos: 2, noLocal: false, retainAsPublished: false, retainHandling: 0 },
        { topicFilter: '#', qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 },
        { topicFilter: 'sport/+/player1', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 },
      ],
    },
  },
  {
    name: 'SUBSCRIBE 5.0 minimal',
    version: 5,
    hex: '82 09 00 02 00 00 03 "x/y" 00  # Packet Identifier 2, Property Length 0, x/y options 0',
    packet: {
      type: 8,
      packetId: 2,
      subscriptions: [{ topicFilter: 'x/y', qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
    },
  },
  {
    name: 'SUBSCRIBE 5.0 every subscription option, Subscription Identifier, User Property, $share filter',
    version: 5,
    hex: `
      82 2e              # SUBSCRIBE, flags 0010; Remaining Length 46
      00 01              # Packet Identifier 1
      0a                 # Property Length 10
      0b 81 01           #   Subscription Identifier 129
      26 00 01 "s" 00 01 "u"   # User Property
      00 03 "a/+" 2d     # options 0010 1101: Retain Handling 2, Retain As Published, No Local, QoS 1
      00 03 "b/#" 12     # options 0001 0010: Retain Handling 1, QoS 2
      00 0e "$share/grp/+/#" 08  # options 0000 1000: Retain As Published, QoS 0
      00 01 "e" 00       # options 0
    `,
    packet: {
      type: 8,
      packetId: 1,
      subscriptions: [
        { topicFilter: 'a/+', qos: 1, noLocal: true, retainAsPublished: true, retainHandling: 2 },
        { topicFilter: 'b/#', qos: 2, noLocal: false, retainAsPublished: false, retainHandling: 1 },
        { topicFilter: '$share/grp/+/#', qos: 0, noLocal: false, retainAsPublished: true, retainHandling: 0 },
        { topicFilter: 'e', qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 },
      ],
      properties: { subscriptionIdentifier: 129, userProperties: [['s', 'u']] },
    },
  },
];

const suback: ValidFixture[] = [
  {
    name: 'SUBACK 3.1 one granted QoS',
    version: 3,
    hex: '90 03 00 01 01',
    packet: { type: 9, packetId: 1, reasonCodes: [1] },
  },
  {
    name: 'SUBACK 3.1.1 granted QoS 1, 2, 0 and failure 0x80',
    version: 4,
    hex: '90 06 00 0a 01 02 00 80',
    packet: { type: 9, packetId: 10, reasonCodes: [1, 2, 0, 0x80] },
  },
  {
    name: 'SUBACK 5.0 with every Subscribe Reason Code',
    version: 5,
    hex: `
      90 0f              # SUBACK, Remaining Length 15
      00 01              # Packet Identifier 1
      00                 # Property Length 0
      00 01 02 80 83 87 8f 91 97 9e a1 a2  # Reason Codes
    `,
    packet: { type: 9, packetId: 1, reasonCodes: [0, 1, 2, 0x80, 0x83, 0x87, 0x8f, 0x91, 0x97, 0x9e, 0xa1, 0xa2] },
  },
  {
    name: 'SUBACK 5.0 with Reason String',
    version: 5,
    hex: '90 0a 00 02 06 1f 00 03 "why" 00',
    packet: { type: 9, packetId: 2, reasonCodes: [0], properties: { reasonString: 'why' } },
  },
];

const unsubscribe: ValidFixture[] = [
  {
    name: 'UNSUBSCRIBE 3.1',
    version: 3,
    hex: 'a2 05 00 01 00 01 "a"  # flags 0010',
    packet: { type: 10, packetId: 1, topicFilters: ['a'] },
  },
  {
    name: 'UNSUBSCRIBE 3.1.1 spec example: a/b and c/d',
    version: 4,
    hex: 'a2 0c 00 0b 00 03 "a/b" 00 03 "c/d"',
    packet: { type: 10, packetId: 11, topicFilters: ['a/b', 'c/d'] },
  },
  {
    name: 'UNSUBSCRIBE 5.0 minimal',
    version: 5,
    hex: 'a2 06 00 0d 00 00 01 "z"',
    packet: { type: 10, packetId: 13, topicFilters: ['z'] },
  },
  {
    name: 'UNSUBSCRIBE 5.0 with User Property and a $share filter',
    version: 5,
    hex: `
      a2 1b              # UNSUBSCRIBE, flags 0010; Remaining Length 27
      00 0c              # Packet Identifier 12
      07                 # Property Length 7
      26 00 01 "k" 00 01 "v"   # User Property
      00 03 "a/#"
      00 0a "$share/g/+"
    `,
    packet: { type: 10, packetId: 12, topicFilters: ['a/#', '$share/g/+'], properties: { userProperties: [['k', 'v']] } },
  },
];

const unsuback: ValidFixture[] = [
  {
    name: 'UNSUBACK 3.1',
    version: 3,
    hex: 'b0 02 00 01',
    packet: { type: 11, packetId: 1, reasonCodes: [] },
  },
  {
    name: 'UNSUBACK 3.1.1 has no payload',
    version: 4,
    hex: 'b0 02 00 0b',
    packet: { type: 11, packetId: 11, reasonCodes: [] },
  },
  {
    name: 'UNSUBACK 5.0 with every Unsubscribe Reason Code',
    version: 5,
    hex: 'b0 0a 00 0c 00 00 11 80 83 87 8f 91  # Packet Identifier 12, Property Length 0, 7 Reason Codes',
    packet: { type: 11, packetId: 12, reasonCodes: [0, 0x11, 0x80, 0x83, 0x87, 0x8f, 0x91] },
  },
  {
    name: 'UNSUBACK 5.0 with Reason String',
    version: 5,
    hex: 'b0 0b 00 0d 07 1f 00 04 "gone" 11',
    packet: { type: 11, packetId: 13, reasonCodes: [0x11], properties: { reasonString: 'gone' } },
  },
];

const pings: ValidFixture[] = ([3, 4, 5] as const).flatMap((version): ValidFixture[] => [
  { name: `PINGREQ ${versionLabel(version)}`, version, hex: 'c0 00', packet: { type: 12 } },
  { name: `PINGRESP ${versionLabel(version)}`, version, hex: 'd0 00', packet: { type: 13 } },
]);

const disconnect: ValidFixture[] = [
  { name: 'DISCONNECT 3.1', version: 3, hex: 'e0 00', packet: { type: 14, reasonCode: 0 } },
  { name: 'DISCONNECT 3.1.1', version: 4, hex: 'e0 00', packet: { type: 14, reasonCode: 0 } },
  {
    name: 'DISCONNECT 5.0 Remaining Length 0 means Normal disconnection',
    version: 5,
    hex: 'e0 00',
    packet: { type: 14, reasonCode: 0 },
  },
  {
    name: 'DISCONNECT 5.0 Disconnect with Will Message (0x04), no Property Length',
    version: 5,
    hex: 'e0 01 04',
    packet: { type: 14, reasonCode: 0x04 },
  },
  {
    name: 'DISCONNECT 5.0 Session taken over (0x8E)',
    version: 5,
    hex: 'e0 01 8e',
    packet: { type: 14, reasonCode: 0x8e },
  },
  {
    name: 'DISCONNECT 5.0 Normal disconnection with Session Expiry Interval',
    version: 5,
    hex: 'e0 07 00 05 11 00 00 0e 10  # Reason Code 0, Property Length 5, Session Expiry Interval 3600',
    packet: { type: 14, reasonCode: 0, properties: { sessionExpiryInterval: 3600 } },
  },
  {
    name: 'DISCONNECT 5.0 Use another server (0x9C) with Server Reference, Reason String, User Property',
    version: 5,
    hex: `
      e0 1d              # DISCONNECT, Remaining Length 29
      9c                 # Reason Code: Use another server
      1b                 # Property Length 27
      1c 00 0a "host2:1883"    # Server Reference
      1f 00 04 "move"    #   Reason String
      26 00 01 "a" 00 01 "b"   # User Property
    `,
    packet: {
      type: 14,
      reasonCode: 0x9c,
      properties: { serverReference: 'host2:1883', reasonString: 'move', userProperties: [['a', 'b']] },
    },
  },
  {
    name: 'DISCONNECT 5.0 explicit Reason Code 0x00 (Remaining Length 1)',
    version: 5,
    hex: 'e0 01 00',
    packet: { type: 14, reasonCode: 0 },
    nonCanonical: true,
  },
  {
    name: 'DISCONNECT 5.0 explicit Reason Code 0x00 and Property Length 0',
    version: 5,
    hex: 'e0 02 00 00',
    packet: { type: 14, reasonCode: 0 },
    nonCanonical: true,
  },
];

const auth: ValidFixture[] = [
  {
    name: 'AUTH 5.0 Remaining Length 0 means Success',
    version: 5,
    hex: 'f0 00',
    packet: { type: 15, reasonCode: 0 },
  },
  {
    name: 'AUTH 5.0 Continue authentication (0x18) without properties',
    version: 5,
    hex: 'f0 01 18',
    packet: { type: 15, reasonCode: 0x18 },
  },
  {
    name: 'AUTH 5.0 Continue authentication with Authentication Method and Data',
    version: 5,
    hex: `
      f0 11              # AUTH, Remaining Length 17
      18                 # Reason Code: Continue authentication
      0f                 # Property Length 15
      15 00 05 "SCRAM"   #   Authentication Method
      16 00 04 01 02 03 04     # Authentication Data
    `,
    packet: { type: 15, reasonCode: 0x18, properties: { authenticationMethod: 'SCRAM', authenticationData: bin(1, 2, 3, 4) } },
  },
  {
    name: 'AUTH 5.0 Re-authenticate (0x19) with Reason String and User Property',
    version: 5,
    hex: 'f0 16 19 14 15 00 05 "SCRAM" 1f 00 02 "re" 26 00 01 "x" 00 01 "y"',
    packet: {
      type: 15,
      reasonCode: 0x19,
      properties: { authenticationMethod: 'SCRAM', reasonString: 're', userProperties: [['x', 'y']] },
    },
  },
  {
    name: 'AUTH 5.0 explicit Success and Property Length 0',
    version: 5,
    hex: 'f0 02 00 00',
    packet: { type: 15, reasonCode: 0 },
    nonCanonical: true,
  },
];

export const validFixtures: readonly ValidFixture[] = [
  ...connect,
  ...connack,
  ...publish,
  ...pubacks,
  ...subscribe,
  ...suback,
  ...unsubscribe,
  ...unsuback,
  ...pings,
  ...disconnect,
  ...auth,
];

// ---------------------------------------------------------------------------------------------------------------
// Invalid packets: one per validation rule
// ---------------------------------------------------------------------------------------------------------------

const MALFORMED = 0x81;
const PROTOCOL_ERROR = 0x82;
const UNSUPPORTED_PROTOCOL_VERSION = 0x84;
const TOPIC_NAME_INVALID = 0x90;
const TOPIC_ALIAS_INVALID = 0x94;

const malformed = (code: MqttErrorCode): ExpectedError => ({ code, reasonCode: MALFORMED });
const protocolError = (code: MqttErrorCode): ExpectedError => ({ code, reasonCode: PROTOCOL_ERROR });

const framing: InvalidFixture[] = [
  {
    name: 'a buffer of one byte is not a packet',
    version: 4,
    hex: 'c0',
    error: malformed('MQTT_PACKET_TRUNCATED'),
    wholeBufferOnly: true,
  },
  {
    name: 'Remaining Length announces more bytes than follow',
    version: 4,
    hex: '30 05 00 03 "a"  # 3 bytes of the 5 announced',
    error: malformed('MQTT_PACKET_TRUNCATED'),
    wholeBufferOnly: true,
  },
  {
    name: 'bytes after the end of the packet',
    version: 4,
    hex: 'c0 00 00',
    error: malformed('MQTT_PACKET_TRAILING_BYTES'),
    wholeBufferOnly: true,
  },
  {
    name: '[MQTT-1.5.5-1] Remaining Length longer than four bytes',
    version: 5,
    hex: '30 ff ff ff ff 01  # fourth length byte still has the continuation bit',
    error: malformed('MQTT_REMAINING_LENGTH_INVALID'),
  },
  {
    name: '[MQTT-1.5.5-1] Remaining Length 0 not minimally encoded (80 00)',
    version: 5,
    hex: 'c0 80 00',
    error: malformed('MQTT_REMAINING_LENGTH_INVALID'),
  },
  {
    name: '[MQTT-1.5.5-1] Remaining Length 2 not minimally encoded (82 80 00)',
    version: 4,
    hex: '62 82 80 00 00 01',
    error: malformed('MQTT_REMAINING_LENGTH_INVALID'),
  },
  {
    name: 'packet type 0 is reserved',
    version: 5,
    hex: '00 00',
    error: malformed('MQTT_PACKET_TYPE_INVALID'),
  },
  {
    name: 'packet type 15 (AUTH) is reserved before MQTT 5.0 (3.1.1)',
    version: 4,
    hex: 'f0 00',
    error: malformed('MQTT_PACKET_TYPE_INVALID'),
  },
  {
    name: 'packet type 15 (AUTH) is reserved before MQTT 5.0 (3.1)',
    version: 3,
    hex: 'f0 00',
    error: malformed('MQTT_PACKET_TYPE_INVALID'),
  },
];

const FLAGS = malformed('MQTT_FIXED_HEADER_FLAGS_INVALID');
const reservedFlags: InvalidFixture[] = [
  {
    name: '[MQTT-2.2.2-1/3.1.1] CONNECT fixed header flags 0001 (3.1.1)',
    version: 4,
    hex: '11 0e 00 04 "MQTT" 04 02 00 3c 00 02 "c1"',
    error: FLAGS,
  },
  { name: '[MQTT-2.1.3-1] CONNACK fixed header flags 0010', version: 5, hex: '22 03 00 00 00', error: FLAGS },
  { name: '[MQTT-2.1.3-1] PUBACK fixed header flags 0001', version: 5, hex: '41 02 00 01', error: FLAGS },
  { name: '[MQTT-2.1.3-1] PUBREC fixed header flags 1000', version: 5, hex: '58 02 00 01', error: FLAGS },
  { name: '[MQTT-3.6.1-1] PUBREL fixed header flags 0000 (3.1.1)', version: 4, hex: '60 02 00 01', error: FLAGS },
  { name: '[MQTT-3.6.1-1] PUBREL fixed header flags 0100', version: 5, hex: '64 02 00 01', error: FLAGS },
  { name: '[MQTT-2.1.3-1] PUBCOMP fixed header flags 0010', version: 5, hex: '72 02 00 01', error: FLAGS },
  {
    name: '[MQTT-3.8.1-1] SUBSCRIBE fixed header flags 0000 (3.1.1)',
    version: 4,
    hex: '80 06 00 01 00 01 "a" 00',
    error: FLAGS,
  },
  {
    name: '[MQTT-3.8.1-1] SUBSCRIBE fixed header flags 0011',
    version: 5,
    hex: '83 07 00 01 00 00 01 "a" 00',
    error: FLAGS,
  },
  { name: '[MQTT-2.2.2-1/3.1.1] SUBACK fixed header flags 1000 (3.1.1)', version: 4, hex: '98 03 00 01 00', error: FLAGS },
  {
    name: '[MQTT-3.10.1-1] UNSUBSCRIBE fixed header flags 0000',
    version: 5,
    hex: 'a0 06 00 01 00 00 01 "a"',
    error: FLAGS,
  },
  { name: '[MQTT-2.2.2-1/3.1.1] UNSUBACK fixed header flags 0010 (3.1.1)', version: 4, hex: 'b2 02 00 01', error: FLAGS },
  { name: '[MQTT-2.1.3-1] PINGREQ fixed header flags 0001', version: 5, hex: 'c1 00', error: FLAGS },
  { name: '[MQTT-2.2.2-1/3.1.1] PINGRESP fixed header flags 1000 (3.1.1)', version: 4, hex: 'd8 00', error: FLAGS },
  { name: '[MQTT-3.14.1-1] DISCONNECT fixed header flags 0001', version: 5, hex: 'e1 00', error: FLAGS },
  { name: '[MQTT-3.14.1-1] DISCONNECT fixed header flags 0010 (3.1.1)', version: 4, hex: 'e2 00', error: FLAGS },
  { name: '[MQTT-3.15.1-1] AUTH fixed header flags 0001', version: 5, hex: 'f1 00', error: FLAGS },
];

const badConnect: InvalidFixture[] = [
  {
    name: '[MQTT-3.1.2-1/5.0] CONNECT protocol name "MQTX"',
    version: 5,
    hex: '10 0f 00 04 "MQTX" 05 02 00 3c 00 00 02 "c5"',
    error: { code: 'MQTT_PROTOCOL_NAME_INVALID', reasonCode: UNSUPPORTED_PROTOCOL_VERSION },
  },
  {
    name: '[MQTT-3.1.2-1/3.1.1] CONNECT protocol name is case sensitive ("mqtt") (3.1.1)',
    version: 4,
    hex: '10 0e 00 04 "mqtt" 04 02 00 3c 00 02 "c1"',
    error: { code: 'MQTT_PROTOCOL_NAME_INVALID', reasonCode: UNSUPPORTED_PROTOCOL_VERSION },
  },
  {
    name: '[MQTT-3.1.2-2/5.0] CONNECT protocol level 6',
    version: 5,
    hex: '10 0f 00 04 "MQTT" 06 02 00 3c 00 00 02 "c5"',
    error: { code: 'MQTT_PROTOCOL_VERSION_UNSUPPORTED', reasonCode: UNSUPPORTED_PROTOCOL_VERSION },
  },
  {
    name: '[MQTT-3.1.2-2/3.1.1] CONNECT "MQTT" with protocol level 3 (3.1.1)',
    version: 4,
    hex: '10 0e 00 04 "MQTT" 03 02 00 3c 00 02 "c1"',
    error: { code: 'MQTT_PROTOCOL_VERSION_UNSUPPORTED', reasonCode: UNSUPPORTED_PROTOCOL_VERSION },
  },
  {
    name: '[MQTT-3.1.2-2/3.1.1] CONNECT "MQIsdp" with protocol level 4 (3.1.1)',
    version: 4,
    hex: '10 10 00 06 "MQIsdp" 04 02 00 3c 00 02 "c1"',
    error: { code: 'MQTT_PROTOCOL_VERSION_UNSUPPORTED', reasonCode: UNSUPPORTED_PROTOCOL_VERSION },
  },
  {
    name: '[MQTT-3.1.2-3/5.0] CONNECT reserved flag bit 0 set',
    version: 5,
    hex: '10 0f 00 04 "MQTT" 05 03 00 3c 00 00 02 "c5"  # Connect Flags 0000 0011',
    error: malformed('MQTT_CONNECT_FLAGS_INVALID'),
  },
  {
    name: '[MQTT-3.1.2-3/3.1.1] CONNECT reserved flag bit 0 set (3.1.1)',
    version: 4,
    hex: '10 0e 00 04 "MQTT" 04 01 00 3c 00 02 "c1"',
    error: malformed('MQTT_CONNECT_FLAGS_INVALID'),
  },
  {
    name: '[MQTT-3.1.2-12/5.0] CONNECT Will QoS 3',
    version: 5,
    hex: `
      10 15 00 04 "MQTT" 05
      1e                 # Connect Flags: will QoS 11, will, clean start
      00 3c 00 00 02 "c5"
      00 00 01 "t" 00 00 # Will Properties, Will Topic, Will Payload
    `,
    error: malformed('MQTT_QOS_INVALID'),
  },
  {
    name: '[MQTT-3.1.2-14/3.1.1] CONNECT Will QoS 3 (3.1.1)',
    version: 4,
    hex: '10 13 00 04 "MQTT" 04 1e 00 3c 00 02 "c1" 00 01 "t" 00 00',
    error: malformed('MQTT_QOS_INVALID'),
  },
  {
    name: '[MQTT-3.1.2-11/5.0] CONNECT Will QoS 1 with Will Flag 0',
    version: 5,
    hex: '10 0f 00 04 "MQTT" 05 0a 00 3c 00 00 02 "c5"  # Connect Flags 0000 1010',
    error: malformed('MQTT_CONNECT_FLAGS_INVALID'),
  },
  {
    name: '[MQTT-3.1.2-13/3.1.1] [MQTT-3.1.2-11/3.1.1] CONNECT Will QoS 2 with Will Flag 0 (3.1.1)',
    version: 4,
    hex: '10 0e 00 04 "MQTT" 04 12 00 3c 00 02 "c1"  # Connect Flags 0001 0010',
    error: malformed('MQTT_CONNECT_FLAGS_INVALID'),
  },
  {
    name: '[MQTT-3.1.2-13/5.0] CONNECT Will Retain with Will Flag 0',
    version: 5,
    hex: '10 0f 00 04 "MQTT" 05 22 00 3c 00 00 02 "c5"  # Connect Flags 0010 0010',
    error: malformed('MQTT_CONNECT_FLAGS_INVALID'),
  },
  {
    name: '[MQTT-3.1.2-15/3.1.1] CONNECT Will Retain with Will Flag 0 (3.1.1)',
    version: 4,
    hex: '10 0e 00 04 "MQTT" 04 22 00 3c 00 02 "c1"',
    error: malformed('MQTT_CONNECT_FLAGS_INVALID'),
  },
  {
    name: '[MQTT-3.1.2-22/3.1.1] CONNECT Password Flag without User Name Flag (3.1.1)',
    version: 4,
    hex: '10 13 00 04 "MQTT" 04 42 00 3c 00 02 "c1" 00 03 "pwd"',
    error: malformed('MQTT_CONNECT_FLAGS_INVALID'),
  },
  {
    name: '[MQTT-3.1.2-9/5.0] CONNECT Will Flag set but no Will Properties, Topic or Payload',
    version: 5,
    hex: '10 0f 00 04 "MQTT" 05 06 00 3c 00 00 02 "c5"',
    error: malformed('MQTT_PACKET_TRUNCATED'),
  },
  {
    name: '[MQTT-3.1.2-19/3.1.1] CONNECT User Name Flag set but no User Name (3.1.1)',
    version: 4,
    hex: '10 0e 00 04 "MQTT" 04 82 00 3c 00 02 "c1"',
    error: malformed('MQTT_PACKET_TRUNCATED'),
  },
  {
    name: '[MQTT-3.1.2-19/5.0] CONNECT Password Flag set but no Password',
    version: 5,
    hex: '10 0f 00 04 "MQTT" 05 42 00 3c 00 00 02 "c5"',
    error: malformed('MQTT_PACKET_TRUNCATED'),
  },
  {
    name: '[MQTT-3.1.2-18/3.1.1] CONNECT User Name present with User Name Flag 0 (3.1.1)',
    version: 4,
    hex: '10 11 00 04 "MQTT" 04 02 00 3c 00 02 "c1" 00 01 "u"',
    error: malformed('MQTT_PACKET_TRAILING_BYTES'),
  },
  {
    name: '[MQTT-3.1.3-3/3.1.1] CONNECT without Client Identifier (3.1.1)',
    version: 4,
    hex: '10 0a 00 04 "MQTT" 04 02 00 3c',
    error: malformed('MQTT_PACKET_TRUNCATED'),
  },
  {
    name: 'CONNECT Client Identifier length runs past the packet (3.1.1)',
    version: 4,
    hex: '10 0e 00 04 "MQTT" 04 02 00 3c 00 05 "c1"',
    error: malformed('MQTT_PACKET_TRUNCATED'),
  },
  {
    name: '[MQTT-3.1.3-4/3.1.1] [MQTT-1.5.3-1] CONNECT Client Identifier ill-formed UTF-8 (3.1.1)',
    version: 4,
    hex: '10 0e 00 04 "MQTT" 04 02 00 3c 00 02 c3 28  # C3 must be followed by a continuation byte',
    error: malformed('MQTT_UTF8_INVALID'),
  },
  {
    name: '[MQTT-4.7.1-1/3.1.1] CONNECT Will Topic with a wildcard (3.1.1)',
    version: 4,
    hex: '10 13 00 04 "MQTT" 04 06 00 3c 00 02 "c1" 00 01 "#" 00 00',
    error: { code: 'MQTT_TOPIC_NAME_INVALID', reasonCode: TOPIC_NAME_INVALID },
  },
  {
    name: '[MQTT-4.7.3-1/5.0] CONNECT empty Will Topic',
    version: 5,
    hex: '10 14 00 04 "MQTT" 05 06 00 3c 00 00 02 "c5" 00 00 00 00 00',
    error: malformed('MQTT_TOPIC_NAME_INVALID'),
  },
  {
    name: 'CONNECT property not allowed in CONNECT (Topic Alias)',
    version: 5,
    hex: '10 12 00 04 "MQTT" 05 02 00 3c 03 23 00 01 00 02 "c5"',
    error: malformed('MQTT_PROPERTY_NOT_ALLOWED'),
  },
  {
    name: 'CONNECT property not allowed in Will Properties (Session Expiry Interval)',
    version: 5,
    hex: '10 1a 00 04 "MQTT" 05 06 00 3c 00 00 02 "c5" 05 11 00 00 00 01 00 01 "t" 00 00',
    error: malformed('MQTT_PROPERTY_NOT_ALLOWED'),
  },
  {
    name: 'CONNECT Session Expiry Interval included twice',
    version: 5,
    hex: '10 19 00 04 "MQTT" 05 02 00 3c 0a 11 00 00 00 01 11 00 00 00 02 00 02 "c5"',
    error: protocolError('MQTT_PROPERTY_DUPLICATE'),
  },
  {
    name: 'CONNECT Receive Maximum 0',
    version: 5,
    hex: '10 12 00 04 "MQTT" 05 02 00 3c 03 21 00 00 00 02 "c5"',
    error: protocolError('MQTT_PROPERTY_VALUE_INVALID'),
  },
  {
    name: 'CONNECT Maximum Packet Size 0',
    version: 5,
    hex: '10 14 00 04 "MQTT" 05 02 00 3c 05 27 00 00 00 00 00 02 "c5"',
    error: protocolError('MQTT_PROPERTY_VALUE_INVALID'),
  },
  {
    name: 'CONNECT Request Problem Information 2 is not a boolean',
    version: 5,
    hex: '10 11 00 04 "MQTT" 05 02 00 3c 02 17 02 00 02 "c5"',
    error: protocolError('MQTT_PROPERTY_VALUE_INVALID'),
  },
  {
    name: 'CONNECT Request Response Information 0xFF is not a boolean',
    version: 5,
    hex: '10 11 00 04 "MQTT" 05 02 00 3c 02 19 ff 00 02 "c5"',
    error: protocolError('MQTT_PROPERTY_VALUE_INVALID'),
  },
  {
    name: 'CONNECT Will Payload Format Indicator 2',
    version: 5,
    hex: '10 17 00 04 "MQTT" 05 06 00 3c 00 00 02 "c5" 02 01 02 00 01 "t" 00 00',
    error: protocolError('MQTT_PROPERTY_VALUE_INVALID'),
  },
  {
    name: 'CONNECT unknown Property Identifier 0x05',
    version: 5,
    hex: '10 11 00 04 "MQTT" 05 02 00 3c 02 05 00 00 02 "c5"',
    error: malformed('MQTT_PROPERTY_UNKNOWN'),
  },
  {
    name: 'CONNECT Property Length runs past the packet',
    version: 5,
    hex: '10 0f 00 04 "MQTT" 05 02 00 3c 7f 00 02 "c5"  # Property Length 127, 4 bytes left',
    error: malformed('MQTT_PROPERTY_LENGTH_INVALID'),
  },
  {
    name: 'CONNECT Authentication Data runs past the Property Length',
    version: 5,
    hex: '10 12 00 04 "MQTT" 05 02 00 3c 03 16 00 05 00 02 "c5"  # 5 bytes announced, the section has none left',
    error: malformed('MQTT_PACKET_TRUNCATED'),
  },
  {
    name: '[MQTT-1.5.7-1] CONNECT User Property name contains U+0000',
    version: 5,
    hex: '10 16 00 04 "MQTT" 05 02 00 3c 07 26 00 01 00 00 01 "v" 00 02 "c5"',
    error: malformed('MQTT_UTF8_NULL_CHARACTER'),
  },
  {
    name: '[MQTT-1.5.7-1] CONNECT User Property value ill-formed UTF-8',
    version: 5,
    hex: '10 16 00 04 "MQTT" 05 02 00 3c 07 26 00 01 "k" 00 01 ff 00 02 "c5"',
    error: malformed('MQTT_UTF8_INVALID'),
  },
];

const badConnack: InvalidFixture[] = [
  {
    name: '[MQTT-3.2.2-1/5.0] CONNACK reserved Connect Acknowledge Flags bit 1 set',
    version: 5,
    hex: '20 03 02 00 00',
    error: malformed('MQTT_FLAGS_INVALID'),
  },
  {
    name: 'CONNACK reserved Connect Acknowledge Flags bit 7 set (3.1.1)',
    version: 4,
    hex: '20 02 80 00',
    error: malformed('MQTT_FLAGS_INVALID'),
  },
  {
    name: 'CONNACK 3.1 has no Session Present flag: first byte must be 0',
    version: 3,
    hex: '20 02 01 00',
    error: malformed('MQTT_FLAGS_INVALID'),
  },
  {
    name: '[MQTT-3.2.2-6/5.0] CONNACK Session Present with a non-zero Reason Code',
    version: 5,
    hex: '20 03 01 87 00',
    error: protocolError('MQTT_FLAGS_INVALID'),
  },
  {
    name: '[MQTT-3.2.2-4/3.1.1] CONNACK Session Present with a non-zero return code (3.1.1)',
    version: 4,
    hex: '20 02 01 05',
    error: protocolError('MQTT_FLAGS_INVALID'),
  },
  {
    name: '[MQTT-3.2.2-8] CONNACK Reason Code 0x04 is not a Connect Reason Code',
    version: 5,
    hex: '20 03 00 04 00',
    error: protocolError('MQTT_REASON_CODE_INVALID'),
  },
  {
    name: '[MQTT-3.2.2-8] CONNACK 3.1.1 return code 0x01 is not a 5.0 Connect Reason Code',
    version: 5,
    hex: '20 03 00 01 00',
    error: protocolError('MQTT_REASON_CODE_INVALID'),
  },
  {
    name: 'CONNACK return code 6 is reserved (3.1.1)',
    version: 4,
    hex: '20 02 00 06',
    error: protocolError('MQTT_REASON_CODE_INVALID'),
  },
  {
    name: 'CONNACK Maximum QoS 2',
    version: 5,
    hex: '20 05 00 00 02 24 02',
    error: protocolError('MQTT_PROPERTY_VALUE_INVALID'),
  },
  {
    name: 'CONNACK Receive Maximum 0',
    version: 5,
    hex: '20 06 00 00 03 21 00 00',
    error: protocolError('MQTT_PROPERTY_VALUE_INVALID'),
  },
  {
    name: 'CONNACK Retain Available 2 is not a boolean',
    version: 5,
    hex: '20 05 00 00 02 25 02',
    error: protocolError('MQTT_PROPERTY_VALUE_INVALID'),
  },
  {
    name: 'CONNACK property not allowed in CONNACK (Will Delay Interval)',
    version: 5,
    hex: '20 08 00 00 05 18 00 00 00 01',
    error: malformed('MQTT_PROPERTY_NOT_ALLOWED'),
  },
  {
    name: 'CONNACK without Property Length',
    version: 5,
    hex: '20 02 00 00',
    error: malformed('MQTT_PACKET_TRUNCATED'),
  },
  {
    name: 'CONNACK with a byte after the return code (3.1.1)',
    version: 4,
    hex: '20 03 00 00 00',
    error: malformed('MQTT_PACKET_TRAILING_BYTES'),
  },
];

const badPublish: InvalidFixture[] = [
  {
    name: '[MQTT-3.3.1-4] PUBLISH QoS 3',
    version: 5,
    hex: '36 08 00 03 "a/b" 00 01 00',
    error: malformed('MQTT_QOS_INVALID'),
  },
  {
    name: '[MQTT-3.3.1-4] PUBLISH QoS 3 (3.1.1)',
    version: 4,
    hex: '36 07 00 03 "a/b" 00 01',
    error: malformed('MQTT_QOS_INVALID'),
  },
  {
    name: '[MQTT-3.3.1-2] PUBLISH DUP set at QoS 0 (3.1.1)',
    version: 4,
    hex: '38 07 00 03 "a/b" "hi"',
    error: malformed('MQTT_FLAGS_INVALID'),
  },
  {
    name: '[MQTT-3.3.1-2] PUBLISH DUP set at QoS 0',
    version: 5,
    hex: '39 06 00 03 "a/b" 00  # DUP + RETAIN, QoS 0',
    error: malformed('MQTT_FLAGS_INVALID'),
  },
  {
    name: '[MQTT-2.3.1-1] PUBLISH QoS 1 with Packet Identifier 0 (3.1.1)',
    version: 4,
    hex: '32 07 00 03 "a/b" 00 00',
    error: protocolError('MQTT_PACKET_ID_INVALID'),
  },
  {
    name: '[MQTT-2.2.1-3] PUBLISH QoS 2 with Packet Identifier 0',
    version: 5,
    hex: '34 08 00 03 "a/b" 00 00 00',
    error: protocolError('MQTT_PACKET_ID_INVALID'),
  },
  {
    name: '[MQTT-3.3.2-2] PUBLISH topic name with wildcard "+" (3.1.1)',
    version: 4,
    hex: '30 05 00 03 "a/+"',
    error: { code: 'MQTT_TOPIC_NAME_INVALID', reasonCode: TOPIC_NAME_INVALID },
  },
  {
    name: '[MQTT-3.3.2-2] PUBLISH topic name with wildcard "#"',
    version: 5,
    hex: '30 06 00 03 "a/#" 00',
    error: { code: 'MQTT_TOPIC_NAME_INVALID', reasonCode: TOPIC_NAME_INVALID },
  },
  {
    name: '[MQTT-3.3.2-2] PUBLISH topic name "#" (3.1)',
    version: 3,
    hex: '30 03 00 01 "#"',
    error: { code: 'MQTT_TOPIC_NAME_INVALID', reasonCode: TOPIC_NAME_INVALID },
  },
  {
    name: '[MQTT-4.7.3-1/3.1.1] PUBLISH empty topic name (3.1.1)',
    version: 4,
    hex: '30 04 00 00 "hi"',
    error: malformed('MQTT_TOPIC_NAME_INVALID'),
  },
  {
    name: '[MQTT-4.7.3-1/5.0] PUBLISH empty topic name without Topic Alias is a Protocol Error',
    version: 5,
    hex: '30 03 00 00 00',
    error: protocolError('MQTT_TOPIC_NAME_INVALID'),
  },
  {
    name: '[MQTT-3.3.2-8] PUBLISH Topic Alias 0',
    version: 5,
    hex: '30 09 00 03 "a/b" 03 23 00 00',
    error: { code: 'MQTT_PROPERTY_VALUE_INVALID', reasonCode: TOPIC_ALIAS_INVALID },
  },
  {
    name: '[MQTT-1.5.3-1] PUBLISH topic name with a lone continuation byte (3.1.1)',
    version: 4,
    hex: '30 04 00 02 "a" 80',
    error: malformed('MQTT_UTF8_INVALID'),
  },
  {
    name: '[MQTT-1.5.4-1] PUBLISH topic name encodes surrogate U+D800 (ED A0 80)',
    version: 5,
    hex: '30 06 00 03 ed a0 80 00',
    error: malformed('MQTT_UTF8_INVALID'),
  },
  {
    name: '[MQTT-1.5.3-1] PUBLISH topic name with overlong "/" (C0 AF) (3.1.1)',
    version: 4,
    hex: '30 04 00 02 c0 af',
    error: malformed('MQTT_UTF8_INVALID'),
  },
  {
    name: '[MQTT-1.5.3-1] PUBLISH topic name with overlong three-byte encoding (E0 80 AF) (3.1.1)',
    version: 4,
    hex: '30 05 00 03 e0 80 af',
    error: malformed('MQTT_UTF8_INVALID'),
  },
  {
    name: '[MQTT-1.5.3-1] PUBLISH topic name with overlong U+0000 (C0 80) (3.1.1)',
    version: 4,
    hex: '30 04 00 02 c0 80',
    error: malformed('MQTT_UTF8_INVALID'),
  },
  {
    name: '[MQTT-1.5.4-1] PUBLISH topic name above U+10FFFF (F4 90 80 80)',
    version: 5,
    hex: '30 07 00 04 f4 90 80 80 00',
    error: malformed('MQTT_UTF8_INVALID'),
  },
  {
    name: '[MQTT-1.5.3-1] PUBLISH topic name ends inside a multi-byte sequence (3.1.1)',
    version: 4,
    hex: '30 04 00 02 e2 82',
    error: malformed('MQTT_UTF8_INVALID'),
  },
  {
    name: '[MQTT-1.5.3-2] PUBLISH topic name contains U+0000 (3.1.1)',
    version: 4,
    hex: '30 05 00 03 "a" 00 "b"',
    error: malformed('MQTT_UTF8_NULL_CHARACTER'),
  },
  {
    name: 'PUBLISH topic name length runs past the packet (3.1.1)',
    version: 4,
    hex: '30 04 00 05 "ab"',
    error: malformed('MQTT_PACKET_TRUNCATED'),
  },
  {
    name: 'PUBLISH QoS 1 without Packet Identifier (3.1.1)',
    version: 4,
    hex: '32 05 00 03 "a/b"',
    error: malformed('MQTT_PACKET_TRUNCATED'),
  },
  {
    name: 'PUBLISH Topic Alias included twice',
    version: 5,
    hex: '30 0c 00 03 "a/b" 06 23 00 01 23 00 02',
    error: protocolError('MQTT_PROPERTY_DUPLICATE'),
  },
  {
    name: 'PUBLISH Payload Format Indicator included twice',
    version: 5,
    hex: '30 0a 00 03 "a/b" 04 01 00 01 01',
    error: protocolError('MQTT_PROPERTY_DUPLICATE'),
  },
  {
    name: 'PUBLISH Subscription Identifier 0',
    version: 5,
    hex: '30 08 00 03 "a/b" 02 0b 00',
    error: protocolError('MQTT_PROPERTY_VALUE_INVALID'),
  },
  {
    name: 'PUBLISH Payload Format Indicator 2',
    version: 5,
    hex: '30 08 00 03 "a/b" 02 01 02',
    error: protocolError('MQTT_PROPERTY_VALUE_INVALID'),
  },
  {
    name: 'PUBLISH property not allowed in PUBLISH (Session Expiry Interval)',
    version: 5,
    hex: '30 0b 00 03 "a/b" 05 11 00 00 00 01',
    error: malformed('MQTT_PROPERTY_NOT_ALLOWED'),
  },
  {
    name: 'PUBLISH property not allowed in PUBLISH (Reason String)',
    version: 5,
    hex: '30 09 00 03 "a/b" 03 1f 00 00',
    error: malformed('MQTT_PROPERTY_NOT_ALLOWED'),
  },
  {
    name: 'PUBLISH unknown Property Identifier 0x00',
    version: 5,
    hex: '30 07 00 03 "a/b" 01 00',
    error: malformed('MQTT_PROPERTY_UNKNOWN'),
  },
  {
    name: 'PUBLISH unknown Property Identifier 0x2B',
    version: 5,
    hex: '30 08 00 03 "a/b" 02 2b 00',
    error: malformed('MQTT_PROPERTY_UNKNOWN'),
  },
  {
    name: 'PUBLISH unknown two-byte Property Identifier 128 (80 01)',
    version: 5,
    hex: '30 08 00 03 "a/b" 02 80 01',
    error: malformed('MQTT_PROPERTY_UNKNOWN'),
  },
  {
    name: '[MQTT-1.5.5-1] PUBLISH Property Identifier not minimally encoded (81 00)',
    version: 5,
    hex: '30 08 00 03 "a/b" 02 81 00',
    error: malformed('MQTT_VARIABLE_BYTE_INTEGER_INVALID'),
  },
  {
    name: 'PUBLISH Subscription Identifier longer than four bytes',
    version: 5,
    hex: '30 0b 00 03 "a/b" 05 0b ff ff ff ff',
    error: malformed('MQTT_VARIABLE_BYTE_INTEGER_INVALID'),
  },
  {
    name: 'PUBLISH Property Length runs past the packet',
    version: 5,
    hex: '30 06 00 03 "a/b" 05',
    error: malformed('MQTT_PROPERTY_LENGTH_INVALID'),
  },
  {
    name: 'PUBLISH Topic Alias value runs past the Property Length (not into the payload)',
    version: 5,
    hex: '30 09 00 03 "a/b" 02 23 00 01  # Property Length 2 holds 23 00; 01 is payload',
    error: malformed('MQTT_PACKET_TRUNCATED'),
  },
  {
    name: '[MQTT-3.3.2-13] PUBLISH Response Topic ill-formed UTF-8',
    version: 5,
    hex: '30 0b 00 03 "a/b" 05 08 00 02 c3 28',
    error: malformed('MQTT_UTF8_INVALID'),
  },
];

const badPubacks: InvalidFixture[] = [
  {
    name: 'PUBACK with Packet Identifier 0 (3.1.1)',
    version: 4,
    hex: '40 02 00 00',
    error: protocolError('MQTT_PACKET_ID_INVALID'),
  },
  {
    name: 'PUBCOMP with Packet Identifier 0',
    version: 5,
    hex: '70 02 00 00',
    error: protocolError('MQTT_PACKET_ID_INVALID'),
  },
  {
    name: '[MQTT-3.4.2-1] PUBACK Reason Code 0x04 is not a PUBACK Reason Code',
    version: 5,
    hex: '40 03 00 01 04',
    error: protocolError('MQTT_REASON_CODE_INVALID'),
  },
  {
    name: '[MQTT-3.5.2-1] PUBREC Reason Code 0x8F is not a PUBREC Reason Code',
    version: 5,
    hex: '50 03 00 01 8f',
    error: protocolError('MQTT_REASON_CODE_INVALID'),
  },
  {
    name: '[MQTT-3.6.2-1] PUBREL Reason Code 0x10 is not a PUBREL Reason Code',
    version: 5,
    hex: '62 03 00 01 10',
    error: protocolError('MQTT_REASON_CODE_INVALID'),
  },
  {
    name: '[MQTT-3.7.2-1] PUBCOMP Reason Code 0x80 is not a PUBCOMP Reason Code',
    version: 5,
    hex: '70 03 00 01 80',
    error: protocolError('MQTT_REASON_CODE_INVALID'),
  },
  {
    name: 'PUBACK 3.1.1 has no Reason Code',
    version: 4,
    hex: '40 03 00 01 00',
    error: malformed('MQTT_PACKET_TRAILING_BYTES'),
  },
  {
    name: 'PUBREC with a one-byte Packet Identifier',
    version: 5,
    hex: '50 01 00',
    error: malformed('MQTT_PACKET_TRUNCATED'),
  },
  {
    name: 'PUBACK property not allowed in PUBACK (Topic Alias)',
    version: 5,
    hex: '40 07 00 01 00 03 23 00 01',
    error: malformed('MQTT_PROPERTY_NOT_ALLOWED'),
  },
  {
    name: 'PUBREL Reason String included twice',
    version: 5,
    hex: '62 0a 00 01 00 06 1f 00 00 1f 00 00',
    error: protocolError('MQTT_PROPERTY_DUPLICATE'),
  },
  {
    name: 'PUBCOMP Property Length runs past the packet',
    version: 5,
    hex: '70 04 00 01 00 05',
    error: malformed('MQTT_PROPERTY_LENGTH_INVALID'),
  },
];

const SHARE = protocolError('MQTT_SHARED_SUBSCRIPTION_INVALID');
const FILTER = malformed('MQTT_TOPIC_FILTER_INVALID');
const badSubscribe: InvalidFixture[] = [
  {
    name: '[MQTT-3.8.3-3/3.1.1] SUBSCRIBE without Topic Filters (3.1.1)',
    version: 4,
    hex: '82 02 00 01',
    error: malformed('MQTT_PAYLOAD_EMPTY'),
  },
  {
    name: '[MQTT-3.8.3-2/5.0] SUBSCRIBE without Topic Filters',
    version: 5,
    hex: '82 03 00 01 00',
    error: protocolError('MQTT_PAYLOAD_EMPTY'),
  },
  {
    name: '[MQTT-2.3.1-1] SUBSCRIBE with Packet Identifier 0 (3.1.1)',
    version: 4,
    hex: '82 06 00 00 00 01 "a" 00',
    error: protocolError('MQTT_PACKET_ID_INVALID'),
  },
  {
    name: '[MQTT-3.8.3-4/3.1.1] SUBSCRIBE reserved bits of the Requested QoS byte set (3.1.1)',
    version: 4,
    hex: '82 06 00 01 00 01 "a" 04',
    error: malformed('MQTT_SUBSCRIPTION_OPTIONS_INVALID'),
  },
  {
    name: '[MQTT-3.8.3-4/3.1.1] SUBSCRIBE Requested QoS 3 (3.1.1)',
    version: 4,
    hex: '82 06 00 01 00 01 "a" 03',
    error: malformed('MQTT_QOS_INVALID'),
  },
  {
    name: 'SUBSCRIBE Maximum QoS 3 is a Protocol Error (5.0 section 3.8.3.1)',
    version: 5,
    hex: '82 07 00 01 00 00 01 "a" 03',
    error: protocolError('MQTT_QOS_INVALID'),
  },
  {
    name: '[MQTT-3.8.3-5] SUBSCRIBE reserved Subscription Options bit 6 set',
    version: 5,
    hex: '82 07 00 01 00 00 01 "a" 40',
    error: malformed('MQTT_SUBSCRIPTION_OPTIONS_INVALID'),
  },
  {
    name: '[MQTT-3.8.3-5] SUBSCRIBE reserved Subscription Options bit 7 set',
    version: 5,
    hex: '82 07 00 01 00 00 01 "a" 81',
    error: malformed('MQTT_SUBSCRIPTION_OPTIONS_INVALID'),
  },
  {
    name: 'SUBSCRIBE Retain Handling 3 is a Protocol Error',
    version: 5,
    hex: '82 07 00 01 00 00 01 "a" 30',
    error: protocolError('MQTT_SUBSCRIPTION_OPTIONS_INVALID'),
  },
  {
    name: '[MQTT-3.8.3-4/5.0] SUBSCRIBE No Local on a Shared Subscription',
    version: 5,
    hex: '82 10 00 01 00 00 0a "$share/g/a" 04',
    error: protocolError('MQTT_SUBSCRIPTION_OPTIONS_INVALID'),
  },
  {
    name: '[MQTT-4.8.2-1] SUBSCRIBE $share with an empty ShareName',
    version: 5,
    hex: '82 0f 00 01 00 00 09 "$share//a" 00',
    error: SHARE,
  },
  {
    name: '[MQTT-4.8.2-2] SUBSCRIBE $share ShareName not followed by "/"',
    version: 5,
    hex: '82 0e 00 01 00 00 08 "$share/g" 00',
    error: SHARE,
  },
  {
    name: '[MQTT-4.8.2-2] SUBSCRIBE $share ShareName containing "+"',
    version: 5,
    hex: '82 11 00 01 00 00 0b "$share/g+/a" 00',
    error: SHARE,
  },
  {
    name: '[MQTT-4.8.2-2] SUBSCRIBE $share ShareName "#"',
    version: 5,
    hex: '82 10 00 01 00 00 0a "$share/#/a" 00',
    error: SHARE,
  },
  {
    name: '[MQTT-4.8.2-2] SUBSCRIBE $share without a Topic Filter after the ShareName',
    version: 5,
    hex: '82 0f 00 01 00 00 09 "$share/g/" 00',
    error: SHARE,
  },
  {
    name: '[MQTT-4.8.2-2] SUBSCRIBE bare "$share"',
    version: 5,
    hex: '82 0c 00 01 00 00 06 "$share" 00',
    error: SHARE,
  },
  {
    name: '[MQTT-4.7.1-1/5.0] SUBSCRIBE "#" not the last level ("a/#/b")',
    version: 5,
    hex: '82 0b 00 01 00 00 05 "a/#/b" 00',
    error: FILTER,
  },
  {
    name: '[MQTT-4.7.1-2/3.1.1] SUBSCRIBE "#" not after a separator ("a#") (3.1.1)',
    version: 4,
    hex: '82 07 00 01 00 02 "a#" 00',
    error: FILTER,
  },
  {
    name: '[MQTT-4.7.1-1/5.0] SUBSCRIBE "#" misplaced in the filter of a $share',
    version: 5,
    hex: '82 11 00 01 00 00 0b "$share/g/a#" 00',
    error: FILTER,
  },
  {
    name: '[MQTT-4.7.1-3/3.1.1] SUBSCRIBE "+" not alone in its level ("a+/b") (3.1.1)',
    version: 4,
    hex: '82 09 00 01 00 04 "a+/b" 00',
    error: FILTER,
  },
  {
    name: '[MQTT-4.7.1-2/5.0] SUBSCRIBE "+" not alone in the last level ("a/b+")',
    version: 5,
    hex: '82 0a 00 01 00 00 04 "a/b+" 00',
    error: FILTER,
  },
  {
    name: '[MQTT-4.7.3-1] SUBSCRIBE empty Topic Filter (3.1.1)',
    version: 4,
    hex: '82 05 00 01 00 00 00',
    error: FILTER,
  },
  {
    name: '[MQTT-3.8.3-1] SUBSCRIBE Topic Filter ill-formed UTF-8 (3.1.1)',
    version: 4,
    hex: '82 06 00 01 00 01 ff 00',
    error: malformed('MQTT_UTF8_INVALID'),
  },
  {
    name: 'SUBSCRIBE Topic Filter without Subscription Options byte (3.1.1)',
    version: 4,
    hex: '82 05 00 01 00 01 "a"',
    error: malformed('MQTT_PACKET_TRUNCATED'),
  },
  {
    name: 'SUBSCRIBE Subscription Identifier included twice',
    version: 5,
    hex: '82 0b 00 01 04 0b 01 0b 02 00 01 "a" 00',
    error: protocolError('MQTT_PROPERTY_DUPLICATE'),
  },
  {
    name: 'SUBSCRIBE Subscription Identifier 0',
    version: 5,
    hex: '82 09 00 01 02 0b 00 00 01 "a" 00',
    error: protocolError('MQTT_PROPERTY_VALUE_INVALID'),
  },
  {
    name: 'SUBSCRIBE property not allowed in SUBSCRIBE (Topic Alias)',
    version: 5,
    hex: '82 0a 00 01 03 23 00 01 00 01 "a" 00',
    error: malformed('MQTT_PROPERTY_NOT_ALLOWED'),
  },
];

const badAcks: InvalidFixture[] = [
  {
    name: '[MQTT-3.9.3-2/3.1.1] SUBACK return code 0x03 (3.1.1)',
    version: 4,
    hex: '90 03 00 01 03',
    error: protocolError('MQTT_REASON_CODE_INVALID'),
  },
  {
    name: '[MQTT-3.9.3-2/3.1.1] SUBACK return code 0x81 (3.1.1)',
    version: 4,
    hex: '90 03 00 01 81',
    error: protocolError('MQTT_REASON_CODE_INVALID'),
  },
  {
    name: '[MQTT-3.9.3-2/5.0] SUBACK Reason Code 0x04 is not a Subscribe Reason Code',
    version: 5,
    hex: '90 04 00 01 00 04',
    error: protocolError('MQTT_REASON_CODE_INVALID'),
  },
  {
    name: 'SUBACK without Reason Codes (3.1.1)',
    version: 4,
    hex: '90 02 00 01',
    error: malformed('MQTT_PAYLOAD_EMPTY'),
  },
  {
    name: 'SUBACK with Packet Identifier 0',
    version: 5,
    hex: '90 04 00 00 00 00',
    error: protocolError('MQTT_PACKET_ID_INVALID'),
  },
  {
    name: 'SUBACK property not allowed in SUBACK (Subscription Identifier)',
    version: 5,
    hex: '90 06 00 01 02 0b 01 00',
    error: malformed('MQTT_PROPERTY_NOT_ALLOWED'),
  },
  {
    name: '[MQTT-3.10.3-2] UNSUBSCRIBE without Topic Filters (3.1.1)',
    version: 4,
    hex: 'a2 02 00 01',
    error: malformed('MQTT_PAYLOAD_EMPTY'),
  },
  {
    name: '[MQTT-3.10.3-2] UNSUBSCRIBE without Topic Filters',
    version: 5,
    hex: 'a2 03 00 01 00',
    error: protocolError('MQTT_PAYLOAD_EMPTY'),
  },
  {
    name: '[MQTT-2.3.1-1] UNSUBSCRIBE with Packet Identifier 0 (3.1.1)',
    version: 4,
    hex: 'a2 05 00 00 00 01 "a"',
    error: protocolError('MQTT_PACKET_ID_INVALID'),
  },
  {
    name: '[MQTT-3.10.3-1] UNSUBSCRIBE Topic Filter contains U+0000',
    version: 5,
    hex: 'a2 06 00 01 00 00 01 00',
    error: malformed('MQTT_UTF8_NULL_CHARACTER'),
  },
  {
    name: '[MQTT-4.7.1-2/3.1.1] UNSUBSCRIBE Topic Filter "#/a" (3.1.1)',
    version: 4,
    hex: 'a2 07 00 01 00 03 "#/a"',
    error: FILTER,
  },
  {
    name: 'UNSUBSCRIBE Topic Filter length runs past the packet (3.1.1)',
    version: 4,
    hex: 'a2 05 00 01 00 05 "a"',
    error: malformed('MQTT_PACKET_TRUNCATED'),
  },
  {
    name: 'UNSUBSCRIBE property not allowed in UNSUBSCRIBE (Reason String)',
    version: 5,
    hex: 'a2 09 00 01 03 1f 00 00 00 01 "a"',
    error: malformed('MQTT_PROPERTY_NOT_ALLOWED'),
  },
  {
    name: 'UNSUBACK 3.1.1 with a payload byte',
    version: 4,
    hex: 'b0 03 00 01 00',
    error: malformed('MQTT_PACKET_TRAILING_BYTES'),
  },
  {
    name: '[MQTT-3.11.3-2] UNSUBACK Reason Code 0x01 is not an Unsubscribe Reason Code',
    version: 5,
    hex: 'b0 04 00 01 00 01',
    error: protocolError('MQTT_REASON_CODE_INVALID'),
  },
  {
    name: 'UNSUBACK 5.0 without Reason Codes',
    version: 5,
    hex: 'b0 03 00 01 00',
    error: malformed('MQTT_PAYLOAD_EMPTY'),
  },
  {
    name: 'UNSUBACK 5.0 without Property Length',
    version: 5,
    hex: 'b0 02 00 01',
    error: malformed('MQTT_PACKET_TRUNCATED'),
  },
];

const badOthers: InvalidFixture[] = [
  {
    name: 'PINGREQ with a body (3.1.1)',
    version: 4,
    hex: 'c0 01 00',
    error: malformed('MQTT_PACKET_TRAILING_BYTES'),
  },
  {
    name: 'PINGRESP with a body',
    version: 5,
    hex: 'd0 01 00',
    error: malformed('MQTT_PACKET_TRAILING_BYTES'),
  },
  {
    name: 'DISCONNECT 3.1.1 with a body',
    version: 4,
    hex: 'e0 01 00',
    error: malformed('MQTT_PACKET_TRAILING_BYTES'),
  },
  {
    name: '[MQTT-3.14.2-1] DISCONNECT Reason Code 0x01 is not a Disconnect Reason Code',
    version: 5,
    hex: 'e0 01 01',
    error: protocolError('MQTT_REASON_CODE_INVALID'),
  },
  {
    name: '[MQTT-3.14.2-1] DISCONNECT Reason Code 0x18 (an AUTH code)',
    version: 5,
    hex: 'e0 01 18',
    error: protocolError('MQTT_REASON_CODE_INVALID'),
  },
  {
    name: 'DISCONNECT property not allowed in DISCONNECT (Receive Maximum)',
    version: 5,
    hex: 'e0 05 00 03 21 00 0a',
    error: malformed('MQTT_PROPERTY_NOT_ALLOWED'),
  },
  {
    name: 'DISCONNECT Session Expiry Interval included twice',
    version: 5,
    hex: 'e0 0c 00 0a 11 00 00 00 01 11 00 00 00 02',
    error: protocolError('MQTT_PROPERTY_DUPLICATE'),
  },
  {
    name: 'DISCONNECT Property Length runs past the packet',
    version: 5,
    hex: 'e0 02 00 09',
    error: malformed('MQTT_PROPERTY_LENGTH_INVALID'),
  },
  {
    name: 'DISCONNECT byte after the properties',
    version: 5,
    hex: 'e0 03 00 00 00',
    error: malformed('MQTT_PACKET_TRAILING_BYTES'),
  },
  {
    name: '[MQTT-3.15.2-1] AUTH Reason Code 0x87 is not an Authenticate Reason Code',
    version: 5,
    hex: 'f0 01 87',
    error: protocolError('MQTT_REASON_CODE_INVALID'),
  },
  {
    name: 'AUTH property not allowed in AUTH (Session Expiry Interval)',
    version: 5,
    hex: 'f0 07 18 05 11 00 00 00 01',
    error: malformed('MQTT_PROPERTY_NOT_ALLOWED'),
  },
  {
    name: 'AUTH Authentication Method included twice',
    version: 5,
    hex: 'f0 09 18 07 15 00 01 "a" 15 00 00',
    error: protocolError('MQTT_PROPERTY_DUPLICATE'),
  },
];

export const invalidFixtures: readonly InvalidFixture[] = [
  ...framing,
  ...reservedFlags,
  ...badConnect,
  ...badConnack,
  ...badPublish,
  ...badPubacks,
  ...badSubscribe,
  ...badAcks,
  ...badOthers,
];
