/**
 * A Bun Worker hashing one part file as its bytes land: it reads the file itself (page cache, its own fd), so
 * the event loop that receives and writes the bytes never spends time on SHA-256. Started by hasher.ts; listed as
 * an entry point of `bun build --compile` (package.json `build:cli`), as Bun requires for a worker in a binary.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import type { HashReply, HashRequest } from './hasher.ts';

declare const self: Worker;

const BLOCK = 4 * 1024 * 1024;
const hasher = new Bun.CryptoHasher('sha256');
const buffer = Buffer.allocUnsafe(BLOCK);
let fd = -1;
let hashed = 0;

function reply(message: HashReply): void {
  self.postMessage(message);
}

self.onmessage = (event: MessageEvent<HashRequest>) => {
  const request = event.data;
  try {
    if (fd < 0) fd = openSync(request.path, 'r');
    while (hashed < request.upTo) {
      const n = readSync(fd, buffer, 0, Math.min(BLOCK, request.upTo - hashed), hashed);
      if (n === 0) throw new Error(`${request.path} ends at ${hashed} bytes, before ${request.upTo}`);
      hasher.update(buffer.subarray(0, n));
      hashed += n;
    }
    if (request.digest) {
      closeSync(fd);
      reply({ kind: 'digest', hex: hasher.digest('hex') });
    } else reply({ kind: 'hashed', upTo: hashed });
  } catch (err) {
    reply({ kind: 'error', message: err instanceof Error ? err.message : String(err) });
  }
};
