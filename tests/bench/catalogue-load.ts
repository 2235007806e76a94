/**
 * Load generator for catalogue.ts, run as its own process so the clients do not share the server's
 * event loop. One JSON argument (a Scenario); prints one JSON line with latency percentiles.
 */
import postgres from 'postgres';

export type Scenario =
  | {
      mode: 'http';
      url: string;
      method: 'GET' | 'POST';
      headers: Record<string, string>;
      body?: string;
      n: number;
      concurrency: number;
      warmup: number;
    }
  | {
      mode: 'sql';
      dbUrl: string;
      statements: { query: string; params: unknown[] }[];
      rlsUserId: string | null;
      n: number;
      concurrency: number;
      warmup: number;
    };

/** The line an 'http' or 'sql' run prints (milliseconds; requests per second; the client's CPU µs per request). */
export type Latency = { n: number; p50: number; p99: number; max: number; rps: number; clientCpuUs: number };

function pct(xs: number[], p: number) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

/** n requests (or as many as fit in maxMs, whichever is fewer) from `concurrency` loops. */
async function drive(n: number, concurrency: number, warmup: number, once: () => Promise<void>, maxMs = 8_000): Promise<Latency> {
  for (let i = 0; i < warmup; i += concurrency) await Promise.all(Array.from({ length: Math.min(concurrency, warmup - i) }, once));
  const lat: number[] = [];
  let next = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n && performance.now() - t0 < maxMs) {
        next++;
        const t = performance.now();
        await once();
        lat.push(performance.now() - t);
      }
    }),
  );
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return {
    n: lat.length,
    p50: pct(lat, 50),
    p99: pct(lat, 99),
    max: Math.max(...lat),
    rps: (lat.length / wall) * 1000,
    clientCpuUs: (cpu.user + cpu.system) / lat.length,
  };
}

const s = JSON.parse(process.argv[2]!) as Scenario;
s.warmup = Math.min(s.warmup, s.concurrency);
if (s.mode === 'http') {
  const once = async () => {
    const res = await fetch(s.url, { method: s.method, headers: s.headers, body: s.body });
    const text = await res.text();
    if (!res.ok) throw new Error(`HTTP ${res.status}: ${text.slice(0, 300)}`);
  };
  console.log(JSON.stringify(await drive(s.n, s.concurrency, s.warmup, once)));
} else if (s.mode === 'sql') {
  const sql = postgres(s.dbUrl, { max: s.concurrency, onnotice: () => {} });
  const uid = s.rlsUserId;
  const once =
    uid === null
      ? async () => {
          await Promise.all(s.statements.map((st) => sql.unsafe(st.query, st.params as never[], { prepare: true })));
        }
      : async () => {
          await sql.begin(async (tx) => {
            await tx`select set_config('app.user_id', ${uid}, true)`;
            await tx`set local role app_user`;
            await Promise.all(s.statements.map((st) => tx.unsafe(st.query, st.params as never[], { prepare: true })));
          });
        };
  console.log(JSON.stringify(await drive(s.n, s.concurrency, s.warmup, once)));
  await sql.end();
}
process.exit(0);
