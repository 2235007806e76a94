/**
 * Where the CLI finds its service and token: `LORA_URL` / `LORA_TOKEN` first, then the file `lora login` wrote,
 * `$XDG_CONFIG_HOME/lora-artifacts/config.json` (default `~/.config/…`), readable by its owner only (0600).
 */
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { createClient } from '../client.ts';
import { CliError, EXIT, toCliError } from './errors.ts';

export type Env = Record<string, string | undefined>;

export interface Credentials {
  url: string;
  token: string;
}

function configPath(env: Env): string {
  const base = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config');
  return join(base, 'lora-artifacts', 'config.json');
}

async function readConfig(env: Env): Promise<Partial<Credentials>> {
  const path = configPath(env);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return {};
  }
  try {
    const parsed = JSON.parse(text) as Partial<Credentials>;
    return { url: typeof parsed.url === 'string' ? parsed.url : undefined, token: typeof parsed.token === 'string' ? parsed.token : undefined };
  } catch {
    throw new CliError(EXIT.auth, `${path} is not valid JSON: run \`lora login\` again`);
  }
}

/** The URL and token to use; a missing one is exit 3 with what to do. */
export async function credentials(env: Env): Promise<Credentials> {
  const saved = await readConfig(env);
  const url = env.LORA_URL || saved.url;
  const token = env.LORA_TOKEN || saved.token;
  if (!url || !token) throw new CliError(EXIT.auth, 'not signed in: run `lora login --url URL --token TOKEN` (or set LORA_URL and LORA_TOKEN)');
  return { url: normalizeUrl(url), token };
}

function normalizeUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new CliError(EXIT.usage, `not a URL: ${url}`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new CliError(EXIT.usage, `not an http(s) URL: ${url}`);
  return parsed.href.replace(/\/+$/, '');
}

/**
 * `lora login`: the token is tried against the service (one model listed) before anything is saved, so a wrong
 * or revoked token is refused here rather than at the next pull. Written with mode 0600 in a folder of 0700.
 */
export async function login(env: Env, input: { url: string; token: string }): Promise<string> {
  const url = normalizeUrl(input.url);
  const token = input.token.trim();
  if (!token) throw new CliError(EXIT.usage, 'the token is empty');
  try {
    await createClient({ baseUrl: url, token }).models.list.query({ limit: 1 });
  } catch (err) {
    throw toCliError(err, url);
  }
  const path = configPath(env);
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, `${JSON.stringify({ url, token }, null, 2)}\n`, { mode: 0o600 });
  // The mode given to writeFile is masked by the umask; make sure before the token becomes visible under its name.
  await chmod(temp, 0o600);
  await rename(temp, path);
  return path;
}
