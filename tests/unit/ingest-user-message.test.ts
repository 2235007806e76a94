// What a user reads in ingestError: only user-safe messages pass.
import { describe, expect, test } from 'bun:test';
import { IntegrityError } from '../../server/ingest/copy.ts';
import { UnsafeFileNameError } from '../../server/ingest/inspect/file-name.ts';
import { s3SourceError } from '../../server/ingest/sources/s3-source.ts';
import { PermanentSourceError, TransientSourceError } from '../../server/ingest/sources/source.ts';
import { GENERIC_FAILURE, GENERIC_STORAGE_FAILURE, IngestError, userMessage } from '../../server/ingest/user-message.ts';

describe('userMessage', () => {
  test('messages written for the user pass through', () => {
    expect(userMessage(new IngestError('no files found at file:///out'))).toBe('no files found at file:///out');
    expect(userMessage(new PermanentSourceError('weights/a.bin: not readable'))).toBe('weights/a.bin: not readable');
    expect(userMessage(new IntegrityError('a.bin: expected 3 bytes, got 2'))).toBe('a.bin: expected 3 bytes, got 2');
    expect(userMessage(new UnsafeFileNameError('/etc/passwd', 'is absolute'))).toMatch(/is absolute/);
  });

  test('a storage ENOSPC with its server path reads as a generic storage failure', () => {
    const enospc = Object.assign(new Error("ENOSPC: no space left on device, write '/srv/data/storage/u1/a1/.x.tmp'"), {
      code: 'ENOSPC',
      errno: -28,
    });
    expect(userMessage(enospc)).toBe(GENERIC_STORAGE_FAILURE);
    expect(GENERIC_STORAGE_FAILURE).not.toMatch(/ENOSPC|\//);
  });

  test('anything else is generic', () => {
    expect(userMessage(new Error('relation "x" does not exist at /srv/app/server/db.ts:12'))).toBe(GENERIC_FAILURE);
    expect(userMessage('a string')).toBe(GENERIC_FAILURE);
  });
});

describe('S3 source errors, as the user reads them', () => {
  const what = 's3://volume1/runs/7/adapter_model.safetensors';

  test("a network failure names the user's object, not the operator's endpoint or errno", () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 10.1.2.3:9000'), { code: 'ECONNREFUSED' });
    const err = s3SourceError(refused, what);
    expect(err).toBeInstanceOf(TransientSourceError);
    expect(userMessage(err)).toBe(`${what}: the S3 endpoint could not be reached`);
    expect(userMessage(err)).not.toMatch(/10\.1\.2\.3|9000|ECONNREFUSED/);
  });

  test("the store's own answer (with an HTTP status) is kept: it is about the user's bucket", () => {
    const missing = Object.assign(new Error('The specified bucket does not exist'), { name: 'NoSuchBucket', $metadata: { httpStatusCode: 404 } });
    const err = s3SourceError(missing, what);
    expect(err).toBeInstanceOf(PermanentSourceError);
    expect(userMessage(err)).toBe(`${what}: NoSuchBucket (HTTP 404): The specified bucket does not exist`);
  });
});
