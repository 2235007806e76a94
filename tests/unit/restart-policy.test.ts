import { describe, expect, test } from 'bun:test';
import { restartPolicy } from '../../db/restart-policy.ts';

describe('the embedded Postgres restart policy', () => {
  test('backs off exponentially, capped, and gives up after more than maxRestarts failures within the window', () => {
    let now = 0;
    const policy = restartPolicy({ maxRestarts: 3, windowMs: 60_000, baseDelayMs: 250, maxDelayMs: 600 }, () => now);
    expect(policy.failed()).toEqual({ restart: true, delayMs: 250 });
    now += 1_000;
    expect(policy.failed()).toEqual({ restart: true, delayMs: 500 });
    now += 1_000;
    expect(policy.failed()).toEqual({ restart: true, delayMs: 600 });
    now += 1_000;
    expect(policy.failed()).toEqual({ restart: false, failures: 4 });
  });

  test('failures older than the window are forgotten: an occasional crash is restarted every time', () => {
    let now = 0;
    const policy = restartPolicy({ maxRestarts: 2, windowMs: 10_000, baseDelayMs: 100, maxDelayMs: 5_000 }, () => now);
    for (let i = 0; i < 10; i++) {
      expect(policy.failed()).toEqual({ restart: true, delayMs: 100 });
      now += 10_001;
    }
  });
});
