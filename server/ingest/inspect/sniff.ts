/**
 * What a file is by its first bytes, not its name: a file called `adapter_model.safetensors` may be a pickle,
 * and a pickle must never be parsed as anything (nor executed: nothing here or anywhere in the service unpickles).
 */

/** A stored file's format as its content shows it; null when it is none of these (JSON, text, images, …). */
export type FileFormat = 'safetensors' | 'torch_zip' | 'pickle' | 'gguf';

/** Bytes of a file's start that `sniffFormat` needs (the copy keeps this many). */
export const SNIFF_BYTES = 16;

/**
 * - safetensors: an 8-byte little-endian header length, then the JSON header's `{`;
 * - torch_zip: a zip's local file header `PK\x03\x04` (what torch.save has written since 1.6: a pickle inside);
 * - pickle: the PROTO opcode 0x80 and a protocol 2..5 (legacy torch.save, `training_args.bin` of old versions);
 * - gguf: the magic `GGUF`.
 */
export function sniffFormat(head: Uint8Array, size: number): FileFormat | null {
  // First: a safetensors header's length may begin with any byte (0x80 for 640, 896, …, as mlx writes them).
  if (head.length >= 9 && head[8] === 0x7b) {
    const n = new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true);
    if (n >= 2n && n <= BigInt(Math.max(0, size - 8))) return 'safetensors';
  }
  if (head.length >= 4 && head[0] === 0x47 && head[1] === 0x47 && head[2] === 0x55 && head[3] === 0x46) return 'gguf';
  if (head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04) return 'torch_zip';
  if (head.length >= 2 && head[0] === 0x80 && head[1]! >= 2 && head[1]! <= 5) return 'pickle';
  return null;
}

/** Whether a format is Python's pickle (bare, or in torch's zip): stored and hashed, never executed. */
export function isPickle(format: FileFormat | null): boolean {
  return format === 'pickle' || format === 'torch_zip';
}
