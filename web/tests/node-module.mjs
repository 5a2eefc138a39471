// Loads the lipflow WebAssembly module under Node (run node with --no-experimental-fetch) and wraps it
// with src/lipflow.js, exactly as the page's worker does in a browser.
import { pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { readFileSync } from 'node:fs';
import { wrapModule } from '../src/lipflow.js';

/** The wrapped module from a path to lipflow.mjs (lipflow.wasm beside it). */
export async function loadLipflow(mjsPath) {
  const modulePath = resolve(mjsPath);
  // Emscripten's ES module output reads __dirname and require() under Node; an ES module has neither.
  globalThis.__dirname = dirname(modulePath);
  globalThis.require = createRequire(modulePath);
  const createLipflow = (await import(pathToFileURL(modulePath).href)).default;
  const M = await createLipflow({ wasmBinary: readFileSync(join(dirname(modulePath), 'lipflow.wasm')) });
  return wrapModule(M);
}
