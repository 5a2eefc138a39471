// Vite builds the page into dist/ with relative paths (it can be served from any folder). The
// WebAssembly module is not bundled: scripts/copy-wasm.mjs puts it in public/wasm/, copied as is.
import { defineConfig } from 'vite';

export default defineConfig({
  base: './',
  worker: { format: 'es' },
  build: { outDir: 'dist', target: 'es2022', chunkSizeWarningLimit: 1000 },
  server: { host: '127.0.0.1', strictPort: false },
  preview: { host: '127.0.0.1' },
});
