import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import solid from 'vite-plugin-solid';

const root = fileURLToPath(new URL('.', import.meta.url));
const api = 'http://127.0.0.1:3000';

/** The dashboard: built into web/dist, which the server serves with an SPA fallback. */
export default defineConfig({
  root,
  plugins: [solid()],
  build: {
    outDir: fileURLToPath(new URL('./dist', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    reportCompressedSize: true,
    // The build is quick enough; rolldown's slow-plugin report is noise on a busy 2-core machine.
    rolldownOptions: { checks: { pluginTimings: false } },
  },
  server: {
    proxy: { '/trpc': api, '/api': api, '/files': api, '/bundles': api },
  },
});
