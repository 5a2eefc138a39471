// node scripts/serve.mjs [--port N] [--dir dist]: serves the built page on http://127.0.0.1:N (N = 8080 by
// default; the next free port when taken; 0 = any free port) and prints "serving <url>" once listening.
// Only files under the folder are served; it never writes anything. Ends on SIGINT/SIGTERM.
import { createServer } from 'node:http';
import { createReadStream, statSync } from 'node:fs';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript',
  '.css': 'text/css', '.wasm': 'application/wasm', '.json': 'application/json', '.png': 'image/png',
  '.svg': 'image/svg+xml', '.ico': 'image/x-icon' };

/** Starts the server; resolves with {server, url} once it listens. */
export function serve({ dir, port = 8080, quiet = false }) {
  const root = resolve(dir);
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    let file = normalize(join(root, path));
    if (file !== root && !file.startsWith(root + sep)) { res.writeHead(403).end(); return; }
    try { if (statSync(file).isDirectory()) file = join(file, 'index.html'); statSync(file); } catch {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] || 'application/octet-stream', 'cache-control': 'no-cache' });
    createReadStream(file).pipe(res);
    if (!quiet) console.log(`${req.method} ${path}`);
  });
  return new Promise((resolvePromise, reject) => {
    const attempt = (p, triesLeft) => {
      server.once('error', (e) => {
        if (e.code === 'EADDRINUSE' && triesLeft > 0) attempt(p + 1, triesLeft - 1); else reject(e);
      });
      server.listen(p, '127.0.0.1', () => resolvePromise({ server, url: `http://127.0.0.1:${server.address().port}/` }));
    };
    attempt(port, port === 0 ? 0 : 50);
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const arg = (name, fallback) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : fallback; };
  const web = resolve(fileURLToPath(import.meta.url), '..', '..');
  const { url } = await serve({ dir: arg('--dir', join(web, 'dist')), port: Number(arg('--port', 8080)), quiet: true });
  console.log(`serving ${url} (Ctrl-C to stop)`);
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
}
