import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { test } from 'node:test';
import fc from 'fast-check';
import { encodePacket, encodePublishHeader } from '../../src/protocol/index.js';
import { publishPacket, VERSIONS } from './arbitraries.js';

test('encodePublishHeader followed by the payload is byte for byte encodePacket, for every version', () => {
  for (const version of VERSIONS) {
    fc.assert(
      fc.property(publishPacket(version), (p) => {
        const whole = encodePacket(p, version);
        const header = encodePublishHeader(p, version);
        assert.deepEqual(Buffer.concat([header, p.payload]), whole);
        assert.equal(header.length, whole.length - p.payload.length);
      }),
      { numRuns: 300 },
    );
  }
});
