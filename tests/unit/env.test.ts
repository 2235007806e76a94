import { describe, expect, test } from 'bun:test';
import { EnvError, parseEnv } from '../../server/env.ts';

describe('parseEnv', () => {
  test('no variables at all gives the embedded defaults', () => {
    const env = parseEnv({});
    expect(env.port).toBe(3000);
    expect(env.host).toBe('127.0.0.1');
    expect(env.publicUrl).toBe('http://127.0.0.1:3000');
    expect(env.dataDir).toBe('./.data');
    expect(env.databaseUrl).toBeNull();
    expect(env.role).toBe('all');
    expect(env.storage).toEqual({ driver: 'fs' });
    expect(env.signedUrlTtlSeconds).toBe(3600);
    expect(env.ingestConcurrency).toBe(2);
    expect(env.sourceAllowPrivateHosts).toBe(false);
  });

  test('empty strings count as unset', () => {
    const env = parseEnv({ PORT: '', DATABASE_URL: ' ', S3_BUCKET: '' });
    expect(env.port).toBe(3000);
    expect(env.databaseUrl).toBeNull();
    expect(env.storage.driver).toBe('fs');
  });

  test('S3_BUCKET switches storage to s3 and requires credentials', () => {
    expect(() => parseEnv({ S3_BUCKET: 'models' })).toThrow(/S3_ACCESS_KEY_ID: required/);
    const env = parseEnv({
      S3_BUCKET: 'models',
      S3_ACCESS_KEY_ID: 'k',
      S3_SECRET_ACCESS_KEY: 's',
      S3_ENDPOINT: 'https://acct.r2.cloudflarestorage.com',
    });
    expect(env.storage).toMatchObject({ driver: 's3', region: 'auto', bucket: 'models', forcePathStyle: false });
  });

  test('SOURCE_FILE_ROOTS and SOURCE_S3_PREFIXES accept {workspaceId}, and refuse an unknown placeholder', () => {
    const env = parseEnv({ SOURCE_FILE_ROOTS: '/srv/teams/{workspaceId}/{jobId}', SOURCE_S3_PREFIXES: 'vol/teams/{workspaceId}' });
    expect(env.sourceFileRoots).toEqual(['/srv/teams/{workspaceId}/{jobId}']);
    expect(env.sourceS3Prefixes).toEqual([{ bucket: 'vol', prefix: 'teams/{workspaceId}' }]);
    expect(() => parseEnv({ SOURCE_FILE_ROOTS: '/srv/{teamId}' })).toThrow(/unknown placeholder \{teamId\}/);
  });

  test.each([
    [{ PORT: 'eighty' }, 'PORT'],
    [{ PORT: '70000' }, 'PORT'],
    [{ ROLE: 'boss' }, 'ROLE'],
    [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL'],
    [{ SIGNED_URL_TTL_SECONDS: '604801' }, 'SIGNED_URL_TTL_SECONDS'],
    [{ AUTH_SECRET: 'short' }, 'AUTH_SECRET'],
    [{ SOURCE_ALLOW_PRIVATE_HOSTS: 'maybe' }, 'SOURCE_ALLOW_PRIVATE_HOSTS'],
    [{ PUBLIC_URL: 'ftp://x' }, 'PUBLIC_URL'],
  ])('%p is rejected naming %s', (vars, name) => {
    try {
      parseEnv(vars as Record<string, string>);
      throw new Error('accepted');
    } catch (e) {
      expect(e).toBeInstanceOf(EnvError);
      expect((e as EnvError).message).toContain(name);
    }
  });

  test('PUBLIC_URL loses its trailing slash; 0.0.0.0 links point at loopback', () => {
    expect(parseEnv({ PUBLIC_URL: 'https://models.example.com/' }).publicUrl).toBe('https://models.example.com');
    expect(parseEnv({ HOST: '0.0.0.0', PORT: '8080' }).publicUrl).toBe('http://127.0.0.1:8080');
  });
});
