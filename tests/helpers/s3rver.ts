import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { createS3Client } from '../../server/storage/s3-client.ts';

type S3rverInstance = { run(): Promise<{ port: number }>; close(): Promise<void> };

/** s3rver accepts any key pair and any signature; these are what every test client sends. */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export interface TestS3 {
  endpoint: string;
  /** A client for arranging objects (checksums as R2 wants them: only when required). */
  client: S3Client;
  /** SOURCE_S3_* as an operator would set them to read training outputs from this server. */
  sourceEnv: Record<string, string>;
  stop(): Promise<void>;
}

/** A real S3-protocol server (s3rver) on a free loopback port, with `buckets` created. */
export async function startS3rver(buckets: string[]): Promise<TestS3> {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 's3rver-'));
  // s3rver ships no type declarations.
  const { default: S3rver } = (await import('s3rver' as string)) as { default: new (options: object) => S3rverInstance };
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  const client = createS3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, ...S3RVER_CREDENTIALS });
  for (const Bucket of buckets) await client.send(new CreateBucketCommand({ Bucket }));
  return {
    endpoint,
    client,
    sourceEnv: {
      SOURCE_S3_ENDPOINT: endpoint,
      SOURCE_S3_REGION: 'us-east-1',
      SOURCE_S3_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
      SOURCE_S3_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
    },
    async stop() {
      client.destroy();
      await server.close();
      fs.rmSync(directory, { recursive: true, force: true });
    },
  };
}
