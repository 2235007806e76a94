// Loaded before every test file (bunfig.toml). Kept light: databases and servers start on demand in
// tests/helpers, so a unit test file starts nothing.
process.env.TZ = 'UTC';
