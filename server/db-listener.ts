import postgres from 'postgres';
import type { Logger } from './logger.ts';

interface ListenerSpec {
  /** The connection's application_name, as pg_stat_activity shows it. */
  name: string;
  /** Channel names (plain identifiers: they are written into LISTEN as they are). */
  channels: readonly string[];
  onNotify(channel: string, payload: string): void;
  /** The connection closed: notifications may be missed until `onUp`. */
  onDown?(): void;
  /** LISTEN succeeded; `afterDrop` when it had been lost, so what was sent meanwhile was missed. */
  onUp?(afterDrop: boolean): Promise<void> | void;
  log: Logger;
  /** Logged (once per outage) when LISTEN fails. */
  warning: string;
}

/**
 * One dedicated connection LISTENing on `channels`: used by the identity cache (revocations) and the live
 * event hub. When it closes, `onDown` is told at once and it reconnects, backing off to 5 s; `onUp` runs each
 * time LISTEN has succeeded, so its owner knows from when it hears everything again.
 */
export async function startListener(databaseUrl: string, spec: ListenerSpec): Promise<{ stop: () => Promise<void> }> {
  let stopped = false;
  let retry: ReturnType<typeof setTimeout> | undefined;
  let failures = 0;
  let dropped = false;
  const sql = postgres(databaseUrl, {
    max: 1,
    idle_timeout: 0,
    max_lifetime: 0,
    onnotice: () => {},
    connection: { application_name: spec.name },
    onclose: () => {
      dropped = true;
      spec.onDown?.();
      if (!stopped) schedule();
    },
    // postgres.js passes every notification of the connection here; its own `listen()` re-subscribes on a
    // reconnect by itself but tells nobody that notifications were missed meanwhile.
    ...({ onnotify: (channel: string, payload: string) => spec.onNotify(channel, payload) } as object),
  });
  const listen = async () => {
    retry = undefined;
    try {
      for (const channel of spec.channels) await sql.unsafe(`listen ${channel}`);
    } catch (err) {
      failures++;
      dropped = true;
      if (failures === 1) spec.log.warn(spec.warning, { err });
      schedule();
      return;
    }
    failures = 0;
    const afterDrop = dropped;
    dropped = false;
    if (!stopped) await spec.onUp?.(afterDrop);
  };
  const schedule = () => {
    if (stopped || retry) return;
    retry = setTimeout(listen, Math.min(5_000, 100 * 2 ** Math.min(failures, 6)));
  };
  await listen();
  return {
    async stop() {
      stopped = true;
      if (retry) clearTimeout(retry);
      await sql.end({ timeout: 1 });
    },
  };
}
