import { afterAll, describe, expect, test } from 'bun:test';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../helpers/net.ts';

const MAIN = path.join(import.meta.dir, '..', '..', 'server', 'main.ts');
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function tmpDataDir() {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-startup-'));
  fs.chmodSync(d, 0o755); // reachable by the postgres user, so the cluster stays inside it
  dirs.push(d);
  return d;
}

/** Runs `bun server/main.ts` as a user would, with only the given variables. */
function start(env: Record<string, string>) {
  return Bun.spawn(['bun', MAIN], {
    env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? '/tmp', LOG_LEVEL: 'warn', ...env },
    stdout: 'pipe',
    stderr: 'pipe',
  });
}

async function waitForLine(stream: ReadableStream<Uint8Array>, pattern: RegExp, timeoutMs = 60_000): Promise<string> {
  const reader = stream.getReader();
  let text = '';
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
    if (pattern.test(text)) break;
  }
  reader.releaseLock();
  return text;
}

describe('starting the service', () => {
  test('an invalid variable stops it at once, naming the variable', async () => {
    const p = start({ PORT: 'abc', DATA_DIR: tmpDataDir() });
    expect(await p.exited).toBe(1);
    const err = await new Response(p.stderr).text();
    expect(err).toContain('PORT');
    expect(err).not.toMatch(/\n\s+at /); // no stack trace
  });

  test('a taken port: one clear line, non-zero exit, no database touched', async () => {
    const port = await freePort();
    const blocker = net.createServer().listen(port, '127.0.0.1');
    await new Promise((r) => blocker.once('listening', r));
    const dataDir = tmpDataDir();
    try {
      const p = start({ PORT: String(port), DATA_DIR: dataDir });
      expect(await p.exited).not.toBe(0);
      const err = (await new Response(p.stderr).text()).trim();
      expect(err).toBe(`cannot start: port ${port} on 127.0.0.1 is already in use; set PORT to a free port`);
      expect(fs.existsSync(path.join(dataDir, 'postgres'))).toBe(false);
    } finally {
      blocker.close();
    }
  });

  test('serves, refuses a second instance on the same DATA_DIR, and shuts down cleanly on SIGTERM', async () => {
    const dataDir = tmpDataDir();
    const port = await freePort();
    const first = start({ PORT: String(port), DATA_DIR: dataDir });
    const out = await waitForLine(first.stdout, /bun run demo/);
    expect(out).toContain(`ready on http://127.0.0.1:${port}`);
    // The start line says what a first run does next: the URL to open, sign up, the demo (for this port's URL).
    expect(out).toContain(`Next: open http://127.0.0.1:${port} in a browser and sign up`);
    expect(out).toContain(`run \`bun run demo\` in a second terminal with PUBLIC_URL=http://127.0.0.1:${port}.`);
    const ready = (await (await fetch(`http://127.0.0.1:${port}/readyz`)).json()) as { status: string };
    expect(ready.status).toBe('ready');

    const second = start({ PORT: String(await freePort()), DATA_DIR: dataDir });
    expect(await second.exited).not.toBe(0);
    expect(await new Response(second.stderr).text()).toMatch(/already in use by another instance/);
    // The first one is unharmed.
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);

    first.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    // Postgres stopped cleanly with it: its lock file is gone.
    const location = fs.existsSync(path.join(dataDir, 'postgres.location'))
      ? fs.readFileSync(path.join(dataDir, 'postgres.location'), 'utf8').trim()
      : path.join(dataDir, 'postgres');
    expect(fs.existsSync(path.join(location, 'postmaster.pid'))).toBe(false);
  }, 120_000);
});
