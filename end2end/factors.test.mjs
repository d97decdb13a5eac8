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
import {
  startServer, openBrowser, screenshots, createTenant, NAMESPACE, SECRET,
} from './harness.mjs';

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
    uri = await qrUri(page.locator('[data-role="totp-qr"]'));
    await page.screenshot({ path: join(screenshots, 'totp-1-enrol.png'), fullPage: true });
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

/** The URI in the QR code of `locator`'s element, read from a screenshot. */
async function qrUri(locator) {
  const png = PNG.sync.read(await locator.screenshot());
  const decoded = jsQR(new Uint8ClampedArray(png.data), png.width, png.height);
  assert.ok(decoded, 'the QR code decodes');
  return decoded.data;
}

test('a dashboard member turns on an authenticator app, then signs in with a computed code', async () => {
  const email = 'mfa@acme.example';
  const password = createTenant(server, email, 'Acme MFA');
  const browser = await openBrowser();
  try {
    const page = await browser.ctx.newPage();
    const signIn = async () => {
      await page.goto(`${server.base}/dashboard/sign-in`);
      await page.fill('#email', email);
      await page.fill('#password', password);
      await page.click('button[type=submit]');
    };
    await signIn();
    await page.waitForURL(`${server.base}/dashboard`);
    await page.click('text=Security');
    await page.click('text=Set up an authenticator app');
    const totp = OTPAuth.URI.parse(await qrUri(page.locator('[data-role="totp-qr"]')));
    assert.equal(totp.issuer, 'otpgate dashboard');
    assert.equal(totp.label, email);
    await page.screenshot({ path: join(screenshots, 'mfa-1-enrol.png'), fullPage: true });
    await page.fill('#code', totp.generate());
    await page.click('text=Turn on');
    const codes = await page.locator('[data-role="recovery-codes"] li').allInnerTexts();
    assert.equal(codes.length, 10);
    await page.screenshot({ path: join(screenshots, 'mfa-2-recovery-codes.png'), fullPage: true });
    await page.click('text=Sign out');

    // The password alone leads to the second step; the next step's code (within the
    // one-step drift the server accepts) finishes the sign-in.
    await signIn();
    await page.waitForURL(`${server.base}/dashboard/sign-in/code`);
    await page.waitForSelector('text=Enter your code');
    await page.screenshot({ path: join(screenshots, 'mfa-3-second-step.png'), fullPage: true });
    await page.fill('#code', totp.generate({ timestamp: Date.now() + 30_000 }));
    await page.click('text=Continue');
    await page.waitForURL(`${server.base}/dashboard`);
    assert.equal(await page.textContent('[data-role="member"]'), `${email} (owner)`);
  } finally {
    await browser.close();
  }
});
