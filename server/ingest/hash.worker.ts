/**
 * Worker-thread entry for the SHA-256 of one copy (hasher.ts): chunks arrive in order (shared memory, or a
 * copy moved here), each is acknowledged once hashed; `digest` answers with the hex digest.
 */
import type { HashReply, HashRequest } from './hasher.ts';

declare const self: Worker;

const hasher = new Bun.CryptoHasher('sha256');

self.onmessage = (event: MessageEvent<HashRequest>) => {
  const request = event.data;
  if (request.kind === 'chunk') {
    hasher.update(request.chunk);
    self.postMessage({ kind: 'hashed' } satisfies HashReply);
  } else {
    self.postMessage({ kind: 'digest', hex: hasher.digest('hex') } satisfies HashReply);
  }
};
