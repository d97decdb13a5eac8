// Starts the release build of otpgate on a free loopback port with a fresh data folder,
// and opens Debian's Chromium through playwright-core.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { createServer as createHttpServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const screenshots = join(root, 'end2end', 'screenshots');
mkdirSync(screenshots, { recursive: true });

export const NAMESPACE = 'e2e';
export const SECRET = 'e2e-secret-token';

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Starts otpgate; resolves once /readyz answers. `app` adds keys to the e2e app's
 * `[auth.e2e]` section, `delivery` to `[delivery]`, `extra` adds sections to the config
 * file.
 */
export async function startServer({ app = '', delivery = '', extra = '' } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'otpgate-e2e-'));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const config = join(dir, 'otpgate.toml');
  writeFileSync(config, `[app]\nenvironment = "development"\n\n[delivery]\npoll_interval = "100ms"\n${delivery}\n\n[auth.e2e]\nnamespace = "${NAMESPACE}"\nsecret = "${SECRET}"\n${app}\n${extra}\n`);
  const child = spawn(join(root, 'target', 'release', 'otpgate'), ['--config', config, 'serve'], {
    cwd: root,
    env: {
      ...process.env,
      OTPGATE_ADDRESS: `127.0.0.1:${port}`,
      OTPGATE_ROOT_URL: base,
      OTPGATE_DATA_DIR: join(dir, 'data'),
      OTPGATE_SITE_ROOT: join(root, 'target', 'site'),
      RUST_LOG: 'warn',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`otpgate exited with ${child.exitCode}`);
    try {
      const res = await fetch(`${base}/readyz`);
      if (res.ok) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) throw new Error('otpgate did not become ready in 30 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    base,
    /** The server's data folder (its database and `keys.toml`). */
    dataDir: join(dir, 'data'),
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Serves the page's own scripts and WASM as failures, so the page stays exactly as the
 * server rendered it (what a visitor without JavaScript gets) while the test can still
 * evaluate axe-core in it.
 */
export async function withoutPageScripts(page) {
  await page.route(/\/(pkg\/.*\.(js|wasm)|static\/(dashboard|charts)\.js)$/, (route) => route.abort());
}

/** `otpgate tenant create` against a running server's data folder: the owner's password. */
export function createTenant(server, email, name) {
  const out = spawnSync(join(root, 'target', 'release', 'otpgate'),
    ['tenant', 'create', '--email', email, '--name', name], {
      env: { ...process.env, OTPGATE_DATA_DIR: server.dataDir, RUST_LOG: 'warn' },
      encoding: 'utf8',
    });
  if (out.status !== 0) throw new Error(`otpgate tenant create failed: ${out.stderr}`);
  const line = out.stdout.split('\n').find((l) => l.startsWith('password: '));
  if (!line) throw new Error(`no password in: ${out.stdout}`);
  return line.slice('password: '.length);
}

/** A fresh headless Chromium profile; `javaScriptEnabled: false` for the no-JS runs. */
export async function openBrowser(options = {}) {
  const profile = mkdtempSync(join(tmpdir(), 'otpgate-chromium-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    ...options,
  });
  return {
    ctx,
    async close() {
      await ctx.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

const auth = 'Basic ' + Buffer.from(`${NAMESPACE}:${SECRET}`).toString('base64');

/** Calls the otpgateway API as the e2e app; returns [status, body]. */
export async function api(base, method, path, form = {}) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form).toString(),
  });
  return [res.status, await res.json()];
}

/** Reads the code sent to `to` from the dev inbox page. */
export async function codeFromInbox(base, to) {
  for (let i = 0; i < 100; i++) {
    const html = await (await fetch(`${base}/dev/inbox`)).text();
    const item = html.match(new RegExp(`<li[^>]*data-to="${to.replace(/[.+]/g, '\\$&')}"[\\s\\S]*?</li>`));
    const code = item && item[0].match(/\b(\d{6})\b/);
    if (code) return code[1];
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no message for ${to} in the dev inbox`);
}

/**
 * A web site on another origin (another loopback port) standing in for an integrator:
 * `pages` maps paths to HTML. Resolves with its origin.
 */
export async function startHost(pages) {
  const port = await freePort();
  const server = createHttpServer((req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    const html = pages[path];
    res.writeHead(html ? 200 : 404, { 'content-type': 'text/html; charset=utf-8' });
    res.end(html || 'not found');
  });
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  return {
    origin: `http://127.0.0.1:${port}`,
    set(path, html) { pages[path] = html; },
    close: () => new Promise((r) => server.close(r)),
  };
}

export { freePort };

const axeSource = readFileSync(join(root, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');

/**
 * Runs axe-core on the page; fails with the rules and elements that do not pass. axe is
 * evaluated through the DevTools protocol rather than added as a script tag: the pages'
 * CSP admits only their own nonce'd script, and the test must not loosen it.
 */
export async function assertAccessible(page, label) {
  await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const result = await window.axe.run(document);
    return result.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  });
  if (violations.length) {
    throw new Error(`${label}: accessibility violations\n${violations.join('\n')}`);
  }
}
