import { describe, expect, test } from 'bun:test';
import { UnsafeFileNameError, validateOutputPath } from '../../server/ingest/inspect/file-name.ts';
import { InspectionError } from '../../server/ingest/inspect/safetensors.ts';

describe('validateOutputPath accepts', () => {
  const ok: [string, string][] = [
    ['adapter_model.safetensors', 'adapter_model.safetensors'],
    ['checkpoint-500/adapter_model.safetensors', 'checkpoint-500/adapter_model.safetensors'],
    ['./adapter_config.json', 'adapter_config.json'],
    ['runs/./events.out.tfevents.1712', 'runs/events.out.tfevents.1712'],
    ['..hidden/a..b/...', '..hidden/a..b/...'],
    ['modèle/日本語.json', 'modèle/日本語.json'],
    ['a b/c:d', 'a b/c:d'], // a colon is only a drive letter at the very start
    ['x:y.txt', 'x:y.txt'], // nor there unless the drive stands alone or a separator follows
    ['c:evil', 'c:evil'],
    ['C::/a', 'C::/a'],
    ['x'.repeat(255), 'x'.repeat(255)],
  ];
  test.each(ok)('%p', (input, normalized) => {
    expect(validateOutputPath(input)).toBe(normalized);
  });

  test('no Unicode normalization: the name stays byte-exact', () => {
    const decomposed = 'cafe\u0301.json';
    expect(validateOutputPath(decomposed)).toBe(decomposed);
  });
});

describe('validateOutputPath rejects', () => {
  const bad: [string, string, RegExp][] = [
    ['empty', '', /is empty/],
    ['leading slash', '/etc/passwd', /is absolute/],
    ['drive letter', 'C:/Windows/win.ini', /drive letter/],
    ['drive letter alone', 'C:', /drive letter/],
    ['drive letter then a folder', 'c:/evil', /drive letter/],
    ['drive letter then a backslash', 'D:\\evil', /drive letter/],
    ['backslash', 'checkpoint-1\\adapter.bin', /backslash/],
    ['UNC path', '\\\\server\\share', /backslash/],
    ['dot-dot at the start', '../secrets', /".." segment/],
    ['dot-dot in the middle', 'a/../../b', /".." segment/],
    ['dot-dot at the end', 'a/..', /".." segment/],
    ['double slash', 'a//b', /empty segment/],
    ['trailing slash', 'checkpoint-500/', /empty segment/],
    ['only dots', './.', /names no file/],
    ['NUL', 'a\u0000.json', /control character/],
    ['newline', 'evil\nname', /control character/],
    ['escape sequence', '\u001b[31mred', /control character/],
    ['DEL', 'a\u007f', /control character/],
    ['lone surrogate', 'a\ud800b', /not valid Unicode/],
    ['segment over 255 bytes', 'x'.repeat(256), /segment longer than 255 bytes/],
    ['multi-byte segment over 255 bytes', 'é'.repeat(128), /segment longer than 255 bytes/],
    ['path over 255 bytes', `${'a'.repeat(200)}/${'b'.repeat(60)}`, /is longer than 255 bytes/],
  ];
  test.each(bad)('%s', (_name, input, message) => {
    let error: unknown;
    try {
      validateOutputPath(input);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UnsafeFileNameError);
    expect(error).toBeInstanceOf(InspectionError);
    expect((error as Error).message).toMatch(message);
    expect((error as UnsafeFileNameError).path).toBe(input);
  });

  test('the message names the file, with control characters escaped and long names cut', () => {
    expect(() => validateOutputPath('../adapter_model.safetensors')).toThrow('"../adapter_model.safetensors": has a ".." segment');
    expect(() => validateOutputPath('bad\nname')).toThrow('"bad\\nname": contains a control character');
    let message = '';
    try {
      validateOutputPath('y'.repeat(1000));
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message.length).toBeLessThan(200);
  });
});
