// Vite builds the pages into dist/ with relative paths (they can be served from any folder): the lab
// (index.html) and the training-step benchmark (bench.html). The lab's WebAssembly module is not
// bundled: scripts/copy-wasm.mjs puts it in public/wasm/, copied as is; TF.js's wasm binaries (the
// benchmark's peer) are bundled as assets, so both pages work offline.
import { defineConfig } from 'vite';

export default defineConfig({
  base: './',
  worker: { format: 'es' },
  build: {
    outDir: 'dist', target: 'es2022', chunkSizeWarningLimit: 4000,
    rollupOptions: { input: { main: 'index.html', bench: 'bench.html' } },
  },
  server: { host: '127.0.0.1', strictPort: false },
  preview: { host: '127.0.0.1' },
});
