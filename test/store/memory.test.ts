import { MemoryStore } from '../../src/store/memory.js';
import { storeSuite } from './store-suite.js';

// The in-memory store keeps nothing on disk: the broker holds sessions and queues itself.
storeSuite('memory', {
  create: () => new MemoryStore(),
  counts: async () => undefined,
});
