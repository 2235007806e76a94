/**
 * Builds the configured storage driver. The composition root calls this once with values from env.ts;
 * nothing here reads the environment.
 */
import { createFsStorage, type FsStorage, type FsStorageOptions } from './fs.ts';
import { createS3Storage, type S3Storage, type S3StorageOptions } from './s3.ts';
import type { StorageDriver } from './storage.ts';

export type StorageConfig = ({ driver: 'fs' } & FsStorageOptions) | ({ driver: 's3' } & S3StorageOptions);

/** The driver for `config`; narrow on `kind` to reach driver-specific members (the fs route needs them). */
export function createStorage(config: { driver: 'fs' } & FsStorageOptions): FsStorage;
export function createStorage(config: { driver: 's3' } & S3StorageOptions): S3Storage;
export function createStorage(config: StorageConfig): FsStorage | S3Storage;
export function createStorage(config: StorageConfig): StorageDriver {
  if (config.driver === 'fs') {
    const { driver: _driver, ...options } = config;
    return createFsStorage(options);
  }
  const { driver: _driver, ...options } = config;
  return createS3Storage(options);
}
