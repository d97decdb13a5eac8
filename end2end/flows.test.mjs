// The hosted flows in Chromium: address → code → verified; wrong codes → locked; the
// resend cooldown; the QR page turning verified live when the inbound SMS arrives; the
// redirect back to the integrator with a token that verifies against the JWKS; the embed
// modal on another origin; keyboard-only completion; a token made by another JWT
// implementation (Node's own Ed25519) confirmed once. axe-core checks every page state, and
// each state is saved as a screenshot.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  startServer, startHost, openBrowser, api, codeFromInbox, screenshots, assertAccessible,
  NAMESPACE, SECRET,
} from './harness.mjs';

const INBOUND_KEY = Buffer.from('e2e-inbound-signing-key-0123456789');
const INBOUND_NUMBER = '+15005550006';

let server;
let host;
let browser;

before(async () => {
  host = await startHost({});
  server = await startServer({
    app: `redirect_urls = ["${host.origin}/done"]\nembed_origins = ["${host.origin}"]\n`,
    extra: `[inbound]\nnumber = "${INBOUND_NUMBER}"\nsigning_secret = "whsec_${INBOUND_KEY.toString('base64')}"\n`,
  });
  browser = await openBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
  await host?.close();
});

async function v1(method, path, body) {
  const res = await fetch(`${server.base}${path}`, {
    method,
    headers: { authorization: `Bearer ${NAMESPACE}:${SECRET}`, 'content-type': 'application/json' },
    body: body && JSON.stringify(body),
  });
  return [res.status, await res.json()];
}

async function hydratedPage(url) {
  const page = await browser.ctx.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(url);
  // Only an Effect sets this, and effects run only after hydration.
  await page.waitForSelector('[data-hydrated="true"]', { timeout: 15_000 });
  await page.evaluate(() => { window.__sameDocument = true; });
  return { page, errors };
}

async function shot(page, name) {
  await page.screenshot({ path: join(screenshots, `${name}.png`), fullPage: true });
}

test('the page asks for the address, sends the code, and verifies', async () => {
  const [status, body] = await api(server.base, 'PUT', '/api/otp/flow-addr', { provider: 'console' });
  assert.equal(status, 200, JSON.stringify(body));
  const { page, errors } = await hydratedPage(body.data.url);
  await assertAccessible(page, 'address form');
  await shot(page, 'flow-1-address');

  // The address is an ordinary form post: the code page loads, then hydrates.
  await page.fill('#address', 'flow@example.com');
  await Promise.all([page.waitForNavigation(), page.click('form button[type="submit"]')]);
  await page.waitForSelector('#otp');
  await page.waitForSelector('[data-hydrated="true"]', { timeout: 15_000 });
  await page.evaluate(() => { window.__sameDocument = true; });
  await assertAccessible(page, 'code form');
  await shot(page, 'flow-2-code');

  // Keyboard only: tab to the field, type, press Enter.
  const code = await codeFromInbox(server.base, 'flow@example.com');
  await page.evaluate(() => document.activeElement && document.activeElement.blur());
  for (let i = 0; i < 10 && (await page.evaluate(() => document.activeElement?.id)) !== 'otp'; i++) {
    await page.keyboard.press('Tab');
  }
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'otp', 'the code field is reachable by Tab');
  await page.keyboard.type(code);
  await page.keyboard.press('Enter');
  await page.waitForSelector('[data-state="verified"]');
  await assertAccessible(page, 'verified');
  await shot(page, 'flow-3-verified');
  assert.equal(await page.evaluate(() => window.__sameDocument), true);
  assert.deepEqual(errors, []);
  await page.close();
});

test('wrong codes count down to locked', async () => {
  const [status, body] = await api(server.base, 'PUT', '/api/otp/flow-lock', {
    to: 'lock@example.com', provider: 'console', max_attempts: '2', otp: '482913',
  });
  assert.equal(status, 200, JSON.stringify(body));
  const { page } = await hydratedPage(body.data.url);
  await page.fill('#otp', '000000');
  await page.click('form button[type="submit"]');
  await page.waitForSelector('text=That code is not right. 1 attempt left.');
  await assertAccessible(page, 'wrong code');
  await shot(page, 'flow-4-wrong-code');
  await page.fill('#otp', '111111');
  await page.click('form button[type="submit"]');
  await page.waitForSelector('[data-state="locked"]');
  await assertAccessible(page, 'locked');
  await shot(page, 'flow-5-locked');
  await page.close();
});

test('resend shows its cooldown counting down', async () => {
  const [status, body] = await api(server.base, 'PUT', '/api/otp/flow-resend', { to: 'resend@example.com', provider: 'console' });
  assert.equal(status, 200, JSON.stringify(body));
  const { page } = await hydratedPage(body.data.url);
  const button = page.locator('[data-role="resend"]');
  assert.equal(await button.isDisabled(), true, 'not before the cooldown');
  const first = await button.textContent();
  assert.match(first, /Send a new code in 0:(2\d|30)/);
  await page.waitForFunction((t) => document.querySelector('[data-role="resend"]').textContent !== t, first, { timeout: 5_000 });
  assert.notEqual(await button.textContent(), first, 'the countdown moves');
  await shot(page, 'flow-6-resend-cooldown');
  await page.close();
});

test('the QR page turns verified live when the SMS arrives', async () => {
  const [status, body] = await api(server.base, 'PUT', '/api/otp/flow-qr', { provider: 'inbound_sms' });
  assert.equal(status, 200, JSON.stringify(body));
  const { page, errors } = await hydratedPage(body.data.url);
  assert.equal(await page.locator('svg').count() > 0, true, 'a QR code');
  const code = (await page.textContent('[data-role="inbound-code"]')).trim();
  assert.match(code, /^[A-Z2-9]{10}$/);
  await assertAccessible(page, 'QR page');
  await shot(page, 'flow-7-qr');
  await page.waitForTimeout(1000); // the event stream opens right after hydration

  const payload = JSON.stringify({ id: 'sms-e2e-1', from: '+14155550100', to: INBOUND_NUMBER, body: code });
  const ts = Math.floor(Date.now() / 1000);
  const sig = createHmac('sha256', INBOUND_KEY).update(`sms-e2e-1.${ts}.${payload}`).digest('base64');
  const res = await fetch(`${server.base}/v1/inbound/generic`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'webhook-id': 'sms-e2e-1', 'webhook-timestamp': String(ts), 'webhook-signature': `v1,${sig}` },
    body: payload,
  });
  assert.equal(res.status, 200);
  await page.waitForSelector('[data-state="verified"]', { timeout: 10_000 });
  assert.equal(await page.evaluate(() => window.__sameDocument), true, 'no reload');
  await shot(page, 'flow-8-qr-verified');
  assert.deepEqual(errors, []);
  await page.close();
});

function verifyJwt(jwt, jwks) {
  const [h, p, s] = jwt.split('.');
  const header = JSON.parse(Buffer.from(h, 'base64url'));
  assert.equal(header.alg, 'EdDSA');
  const jwk = jwks.keys.find((k) => k.kid === header.kid);
  assert.ok(jwk, 'the signing key is published');
  const key = createPublicKey({ key: jwk, format: 'jwk' });
  assert.equal(verify(null, Buffer.from(`${h}.${p}`), key, Buffer.from(s, 'base64url')), true, 'signature');
  return JSON.parse(Buffer.from(p, 'base64url'));
}

test('the browser returns to the app with a token that verifies against the JWKS', async () => {
  host.set('/done', '<!doctype html><html lang="en"><title>Done</title><h1>Back at the shop</h1></html>');
  const [status, body] = await v1('POST', '/v1/verifications', {
    id: 'flow-redirect', provider: 'console', to: 'redirect@example.com', code: '735291',
    redirect_url: `${host.origin}/done`, state: 'cart-42',
  });
  assert.equal(status, 201, JSON.stringify(body));
  const { page } = await hydratedPage(body.url);
  await page.fill('#otp', '735291');
  await Promise.all([page.waitForURL(`${host.origin}/done?**`), page.click('form button[type="submit"]')]);
  const url = new URL(page.url());
  assert.equal(url.searchParams.get('state'), 'cart-42');
  assert.equal(url.searchParams.get('id'), 'flow-redirect');
  const jwks = await (await fetch(`${server.base}/.well-known/jwks.json`)).json();
  const claims = verifyJwt(url.searchParams.get('verification_token'), jwks);
  assert.equal(claims.sub, 'flow-redirect');
  assert.equal(claims.aud, NAMESPACE);
  assert.equal(claims.address, 'redirect@example.com');
  assert.ok(claims.exp - claims.iat <= 300);
  await shot(page, 'flow-9-redirected');
  await page.close();
});

test('reset a password: only the bound browser earns the token, confirmed once for its action', async () => {
  host.set('/done', '<!doctype html><html lang="en"><title>Done</title><h1>Back at the shop</h1></html>');
  const binding = 'sess-e2e-4f1c2b9a7d3e';
  const [status, body] = await v1('POST', '/v1/verifications', {
    id: 'flow-reset', provider: 'console', to: 'reset@example.com', code: '604215',
    action: 'set_password', session_binding: binding, redirect_url: `${host.origin}/done`,
  });
  assert.equal(status, 201, JSON.stringify(body));
  assert.equal(body.bound, true);

  // The code typed into the same link on another device verifies nothing there.
  const other = await openBrowser();
  try {
    const page = await other.ctx.newPage();
    await page.goto(body.url);
    await page.waitForSelector('[data-hydrated="true"]', { timeout: 15_000 });
    await page.fill('#otp', '604215');
    await page.click('form button[type="submit"]');
    await page.waitForSelector('text=Finish on the device where you started');
    await shot(page, 'flow-10-other-device');
  } finally {
    await other.close();
  }
  const [, still] = await v1('GET', '/v1/verifications/flow-reset');
  assert.equal(still.status, 'pending');
  assert.equal(still.attempts_left, 5, 'nothing was counted');

  // The browser the integrator sent with the binding verifies and goes back with a token.
  const { page } = await hydratedPage(`${body.url}?binding=${binding}`);
  assert.equal(page.url(), body.url, 'the binding is dropped from the address bar');
  await page.fill('#otp', '604215');
  await Promise.all([page.waitForURL(`${host.origin}/done?**`), page.click('form button[type="submit"]')]);
  const token = new URL(page.url()).searchParams.get('verification_token');
  await page.close();

  // The integrator confirms it for the action it is about to take, once.
  const [wrong, refused] = await v1('POST', '/v1/tokens/confirm', { token, action: 'change_email' });
  assert.equal(wrong, 422, JSON.stringify(refused));
  assert.equal(refused.error.code, 'action_mismatch');
  const [ok, confirmed] = await v1('POST', '/v1/tokens/confirm', { token, action: 'set_password' });
  assert.equal(ok, 200, JSON.stringify(confirmed));
  assert.equal(confirmed.action, 'set_password');
  const [again] = await v1('POST', '/v1/tokens/confirm', { token, action: 'set_password' });
  assert.equal(again, 409);
});

test('a token signed by another implementation with the server key is confirmed once', async () => {
  // Node's own Ed25519 signs with the seed otpgate generated into its data folder.
  const keys = readFileSync(join(server.dataDir, 'keys.toml'), 'utf8');
  const seed = keys.match(/token_signing_keys\s*=\s*\[\s*"([^"]+)"/)[1];
  const jwks = await (await fetch(`${server.base}/.well-known/jwks.json`)).json();
  const jwk = jwks.keys[0];
  const d = Buffer.from(seed, 'base64').toString('base64url');
  const key = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', x: jwk.x, d }, format: 'jwk' });
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    iss: server.base, aud: NAMESPACE, sub: 'node-made', address: 'node@example.com',
    channel: 'email', iat: now, exp: now + 60, jti: `node-${now}`, typ: 'otpgate.verification',
  };
  const segment = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${segment({ alg: 'EdDSA', typ: 'JWT', kid: jwk.kid })}.${segment(claims)}`;
  const token = `${input}.${sign(null, Buffer.from(input), key).toString('base64url')}`;

  let [status, body] = await v1('POST', '/v1/tokens/confirm', { token });
  assert.equal(status, 200, JSON.stringify(body));
  assert.equal(body.id, 'node-made');
  assert.equal(body.address, 'node@example.com');
  [status, body] = await v1('POST', '/v1/tokens/confirm', { token });
  assert.equal(status, 409, 'a second use is refused');
  assert.equal(body.error.code, 'token_used');

  const unsigned = `${segment({ alg: 'none', typ: 'JWT' })}.${segment({ ...claims, jti: 'node-none' })}.`;
  [status, body] = await v1('POST', '/v1/tokens/confirm', { token: unsigned });
  assert.equal(status, 422, 'an unsigned token is refused');
  const otherAudience = `${segment({ alg: 'EdDSA', typ: 'JWT', kid: jwk.kid })}.${segment({ ...claims, aud: 'other', jti: 'node-aud' })}`;
  const signedElsewhere = `${otherAudience}.${sign(null, Buffer.from(otherAudience), key).toString('base64url')}`;
  [status] = await v1('POST', '/v1/tokens/confirm', { token: signedElsewhere });
  assert.equal(status, 422, 'a token for another app is refused');
});

/** An integrator's page on the other origin whose button opens the modal for `id`. */
function modalHost(title, id) {
  return `<!doctype html><html lang="en"><head><title>${title}</title>
<script id="otpgateway-script" src="${server.base}/static/otp.js"></script></head>
<body><main><h1>${title}</h1><button id="verify" type="button">Verify</button><p id="result">waiting</p></main>
<script>
document.getElementById('verify').onclick = function () {
  OTPGateway('${NAMESPACE}', '${id}', function (ns, id) {
    document.getElementById('result').textContent = 'finished ' + ns + ' ' + id;
  }, function () { document.getElementById('result').textContent = 'cancelled'; });
};
</script></body></html>`;
}

test('the embed modal on another origin reports the result to its page', async () => {
  host.set('/shop', modalHost('Shop', 'flow-modal'));
  const [status, body] = await api(server.base, 'PUT', '/api/otp/flow-modal', { to: 'modal@example.com', provider: 'console', otp: '604918' });
  assert.equal(status, 200, JSON.stringify(body));
  const page = await browser.ctx.newPage();
  await page.goto(`${host.origin}/shop`);
  await page.click('#verify');
  const frame = page.frameLocator('#otpgateway-frame');
  await frame.locator('form[data-hydrated="true"]').waitFor({ timeout: 15_000 });
  await shot(page, 'flow-10-modal');
  await frame.locator('#otp').fill('604918');
  await frame.locator('form button[type="submit"]').first().click();
  await page.waitForSelector(`text=finished ${NAMESPACE} flow-modal`);
  assert.equal(await page.locator('#otpgateway-frame').count(), 0, 'the modal closed');

  // A second modal closed by Escape reports a cancel.
  await page.click('#verify');
  await page.waitForSelector('#otpgateway-frame');
  await page.keyboard.press('Escape');
  await page.waitForSelector('text=cancelled');
  await page.close();
});

test('the embed modal keeps its host across the address form post', async () => {
  host.set('/signup', modalHost('Sign up', 'flow-modal-addr'));
  const [status, body] = await api(server.base, 'PUT', '/api/otp/flow-modal-addr', { provider: 'console' });
  assert.equal(status, 200, JSON.stringify(body));
  const page = await browser.ctx.newPage();
  await page.goto(`${host.origin}/signup`);
  await page.click('#verify');
  const frame = page.frameLocator('#otpgateway-frame');
  await frame.locator('form[data-hydrated="true"]').waitFor({ timeout: 15_000 });
  await frame.locator('#address').fill('modal-addr@example.com');
  await frame.locator('form button[type="submit"]').first().click();
  // The address is an ordinary post: the framed page loads again and must still know
  // which site to report to.
  await frame.locator('#otp').waitFor();
  await frame.locator('form[data-hydrated="true"]').waitFor({ timeout: 15_000 });
  const code = await codeFromInbox(server.base, 'modal-addr@example.com');
  await frame.locator('#otp').fill(code);
  await frame.locator('form button[type="submit"]').first().click();
  await page.waitForSelector(`text=finished ${NAMESPACE} flow-modal-addr`);
  await page.close();
});

test('an e-mail link asks for one press, then verifies', async () => {
  const [status, body] = await api(server.base, 'PUT', '/api/otp/flow-link', { to: 'link@example.com', provider: 'console' });
  assert.equal(status, 200, JSON.stringify(body));
  // The message goes out in the background: wait for it in the dev inbox.
  let link = null;
  for (let i = 0; i < 100 && !link; i++) {
    const inbox = await (await fetch(`${server.base}/dev/inbox`)).text();
    link = inbox.match(/http:\/\/127\.0\.0\.1:\d+\/otp\/e2e\/flow-link\?code=[A-Za-z0-9]+/);
    if (!link) await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(link, 'the message carries the one-click link');
  const { page } = await hydratedPage(link[0]);
  await page.waitForSelector('[data-role="confirm"]');
  await assertAccessible(page, 'confirm link');
  await shot(page, 'flow-11-confirm-link');
  const [before] = await api(server.base, 'POST', '/api/otp/flow-link/status');
  assert.equal(before, 400, 'opening the link verified nothing');
  await page.click('[data-role="confirm"]');
  await page.waitForSelector('[data-state="verified"]');
  await page.close();
});
