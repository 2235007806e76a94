import { describe, expect, test } from 'bun:test';
import { isPickle, sniffFormat } from '../../server/ingest/inspect/sniff.ts';

const bytes = (...parts: (number[] | string)[]) =>
  new Uint8Array(parts.flatMap((p) => (typeof p === 'string' ? [...new TextEncoder().encode(p)] : p)));
/** A safetensors start: an 8-byte little-endian header length, then its JSON. */
const safetensorsHead = (headerLength: number) => {
  const b = new Uint8Array(16);
  new DataView(b.buffer).setBigUint64(0, BigInt(headerLength), true);
  b.set(new TextEncoder().encode('{"__met'), 8);
  return b;
};

describe('sniffFormat: the format by content, not by name', () => {
  test.each([
    ['GGUF', bytes('GGUF', [3, 0, 0, 0]), 1000, 'gguf'],
    ['a torch.save zip', bytes([0x50, 0x4b, 0x03, 0x04], [20, 0, 0, 0]), 1000, 'torch_zip'],
    ['a protocol 2 pickle (legacy torch.save)', bytes([0x80, 0x02, 0x8a, 0x0a]), 1000, 'pickle'],
    ['a protocol 4 pickle', bytes([0x80, 0x04, 0x95]), 1000, 'pickle'],
    ['a safetensors header', safetensorsHead(120), 1000, 'safetensors'],
    // 0x0280: its first bytes are 0x80 0x02, like a pickle's PROTO 2 (mlx writes such headers).
    ['a safetensors header of 640 bytes, starting 0x80 0x02', safetensorsHead(640), 10_000, 'safetensors'],
    ['JSON', bytes('{"r": 8}'), 8, null],
    ['text', bytes('Step 1 | loss:2.3'), 17, null],
    ['0x80 with no protocol after it', bytes([0x80, 0x09]), 2, null],
    ['a header length past the end of the file', safetensorsHead(5000), 1000, null],
    ['an empty file', new Uint8Array(0), 0, null],
  ] as const)('%s', (_, head, size, format) => {
    expect(sniffFormat(head, size)).toBe(format);
  });

  test('pickles are the bare and the zipped form', () => {
    expect(isPickle('pickle')).toBe(true);
    expect(isPickle('torch_zip')).toBe(true);
    expect(isPickle('safetensors')).toBe(false);
    expect(isPickle(null)).toBe(false);
  });
});
