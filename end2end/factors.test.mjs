// An authenticator-app factor enrolled in Chromium: the integrator enrols it through
// /v1/factors, the hosted page shows its QR code, the test reads that QR code from a
// screenshot (jsQR), computes the current code from the URI it holds with another TOTP
// implementation (otpauth), and types it into the page, which verifies and makes the
// factor active. Then the same code is refused once more (each time step counts once).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import jsQR from 'jsqr';
import { PNG } from 'pngjs';
import * as OTPAuth from 'otpauth';
import { startServer, openBrowser, screenshots, NAMESPACE, SECRET } from './harness.mjs';

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

async function v1(method, path, body) {
  const res = await fetch(`${server.base}${path}`, {
    method,
    headers: { authorization: `Bearer ${NAMESPACE}:${SECRET}`, 'content-type': 'application/json' },
    body: body && JSON.stringify(body),
  });
  return [res.status, await res.json()];
}

test('a factor is enrolled by scanning its QR code and typing the code an app computes', async () => {
  const [status, enrolled] = await v1('POST', '/v1/factors', { user: 'user-42', label: 'ana@example.com' });
  assert.equal(status, 201, JSON.stringify(enrolled));
  assert.equal(enrolled.factor.status, 'pending');
  const browser = await openBrowser();
  let uri;
  let code;
  try {
    const page = await browser.ctx.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(enrolled.verification.url);
    await page.waitForSelector('form[data-hydrated="true"]', { timeout: 15_000 });
    await page.waitForSelector('text=Set up your authenticator app');
    const qr = page.locator('[data-role="totp-qr"]');
    const png = PNG.sync.read(await qr.screenshot());
    await page.screenshot({ path: join(screenshots, 'totp-1-enrol.png'), fullPage: true });
    const decoded = jsQR(new Uint8ClampedArray(png.data), png.width, png.height);
    assert.ok(decoded, 'the QR code decodes');
    uri = decoded.data;
    assert.equal(uri, enrolled.uri, 'the QR code holds the URI the API answered');
    const key = (await page.locator('[data-role="totp-key"]').innerText()).replaceAll(' ', '');
    assert.equal(key, enrolled.secret);

    const totp = OTPAuth.URI.parse(uri);
    assert.equal(totp.issuer, 'e2e');
    assert.equal(totp.label, 'ana@example.com');
    code = totp.generate();
    await page.fill('#otp', code);
    await page.click('button[type="submit"]');
    await page.waitForSelector('[data-state="verified"]');
    await page.screenshot({ path: join(screenshots, 'totp-2-verified.png'), fullPage: true });
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
  const [, factor] = await v1('GET', `/v1/factors/${enrolled.factor.id}`);
  assert.equal(factor.status, 'active');

  // A new check of the same factor: no key on its page, and the code just used is refused.
  const [created, v] = await v1('POST', '/v1/verifications', { provider: 'totp', to: enrolled.factor.id });
  assert.equal(created, 201, JSON.stringify(v));
  const html = await (await fetch(v.url)).text();
  assert.ok(!html.includes('data-role="totp-qr"'));
  assert.ok(html.includes('Open your authenticator app'));
  const [, replay] = await v1('POST', `/v1/verifications/${v.id}/check`, { code });
  assert.equal(replay.verified, false, JSON.stringify(replay));
  assert.equal(replay.reason, 'incorrect_code');
});
