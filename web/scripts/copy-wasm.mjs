// Copies the WebAssembly module (lipflow.mjs + lipflow.wasm) of the wasm and wasm-scalar builds into
// public/wasm/{simd,scalar}/, from where Vite serves and copies it. The build folder is ../build, or
// $LIPFLOW_BUILD_DIR. Exits non-zero, naming the missing file and the command that makes it.
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const web = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const build = resolve(process.env.LIPFLOW_BUILD_DIR || join(web, '..', 'build'));
const builds = { simd: 'wasm', scalar: 'wasm-scalar' };
let missing = 0;
for (const [name, preset] of Object.entries(builds)) {
  const from = join(build, preset, 'wasm');
  const to = join(web, 'public', 'wasm', name);
  mkdirSync(to, { recursive: true });
  for (const file of ['lipflow.mjs', 'lipflow.wasm']) {
    if (!existsSync(join(from, file))) {
      console.error(`copy-wasm: ${join(from, file)} is missing (cmake --workflow --preset ${preset})`);
      missing++;
      continue;
    }
    copyFileSync(join(from, file), join(to, file));
  }
}
if (missing) process.exit(1);
console.log(`copy-wasm: the SIMD and scalar modules from ${build} are in public/wasm/`);
