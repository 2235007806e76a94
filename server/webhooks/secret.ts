import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

/**
 * Signing secrets. A webhook's secret is `whsec_` + base64 of 32 random bytes (the Standard Webhooks form the
 * `standardwebhooks` package reads); it is shown once and stored sealed: AES-256-GCM under a key derived from
 * AUTH_SECRET with HKDF, the webhook's id bound as associated data, so a sealed value copied onto another
 * row does not open. A database dump alone reveals no secret.
 */

const PREFIX = 'whsec_';
const VERSION = 'v1';
const INFO = 'lora-artifacts webhook signing secret v1';

export function newSigningSecret(): string {
  return `${PREFIX}${randomBytes(32).toString('base64')}`;
}

function keyFor(authSecret: string): Buffer {
  return Buffer.from(hkdfSync('sha256', authSecret, '', INFO, 32));
}

export function sealSecret(authSecret: string, webhookId: string, secret: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', keyFor(authSecret), iv);
  cipher.setAAD(Buffer.from(webhookId));
  const sealed = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final(), cipher.getAuthTag()]);
  return `${VERSION}.${iv.toString('base64url')}.${sealed.toString('base64url')}`;
}

/** The secret sealed by `sealSecret`; throws when AUTH_SECRET changed or the value was tampered with. */
export function openSecret(authSecret: string, webhookId: string, sealed: string): string {
  const [version, iv, body] = sealed.split('.');
  if (version !== VERSION || !iv || !body) throw new Error('unknown sealed secret format');
  const bytes = Buffer.from(body, 'base64url');
  const decipher = createDecipheriv('aes-256-gcm', keyFor(authSecret), Buffer.from(iv, 'base64url'));
  decipher.setAAD(Buffer.from(webhookId));
  decipher.setAuthTag(bytes.subarray(bytes.length - 16));
  return Buffer.concat([decipher.update(bytes.subarray(0, bytes.length - 16)), decipher.final()]).toString('utf8');
}
