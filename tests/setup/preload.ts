// Loaded before every test file (bunfig.toml). Kept light: databases and servers start on demand in
// tests/helpers, so a unit test file starts nothing.
import { afterAll } from 'bun:test';
import { stopTestCluster } from '../helpers/db';

process.env.TZ = 'UTC';

// A hook registered here is global: it runs once, after the last test file, and takes the shared
// embedded Postgres down with the run (bun test does not fire process 'exit' handlers reliably).
afterAll(() => stopTestCluster());
