// The pages' own guarantees in Chromium: they hydrate under their nonce-based CSP with no
// violation reported; an app's logo and accent colour show; the phone picker reads a
// national number in the picked country; "Didn't get it?" moves to another channel. axe-core checks the pages both hydrated and as
// the server rendered them (what a visitor without JavaScript gets).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  startServer, openBrowser, api, screenshots, assertAccessible, withoutPageScripts, codeFromInbox,
} from './harness.mjs';

let server;
let browser;

before(async () => {
  server = await startServer({
    app: 'name = "The Shop"\nlogo_url = "/favicon.svg"\naccent_color = "#0f766e"\nfallbacks = ["console"]\n',
    // An SMS relay that is never reached (loopback stays closed to providers): these
    // tests are about the pages, not the delivery.
    extra: '[webhooks.sms_relay]\nenabled = true\nurl = "http://127.0.0.1:9/otp"\nchannel = "sms"\n',
  });
  // English pages, a German region: the picker starts on Germany.
  browser = await openBrowser({ extraHTTPHeaders: { 'accept-language': 'en-DE,en;q=0.9' } });
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

async function startPhoneVerification(id) {
  const [status, body] = await api(server.base, 'PUT', `/api/otp/${id}`, { provider: 'sms_relay' });
  assert.equal(status, 200, JSON.stringify(body));
  return body.data.url;
}

test('a branded phone page hydrates under its CSP and reads a national number', async () => {
  const url = await startPhoneVerification('brand-0001');
  const page = await browser.ctx.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
  try {
    const res = await page.goto(url);
    assert.match(res.headers()['content-security-policy'], /script-src 'nonce-[^']+' 'strict-dynamic'/);
    await page.waitForSelector('[data-hydrated="true"]', { timeout: 15_000 });

    const logo = await page.waitForSelector('img[data-role="logo"]');
    assert.ok(await logo.evaluate((img) => img.complete && img.naturalWidth > 0), 'the logo loads');
    const button = page.locator('form[data-hydrated] button[type="submit"]');
    assert.equal(await button.evaluate((b) => getComputedStyle(b).backgroundColor), 'rgb(15, 118, 110)');
    assert.equal(await page.locator('#country').inputValue(), 'DE', 'the browser region is picked');
    await assertAccessible(page, 'branded phone address form');
    await page.screenshot({ path: join(screenshots, 'pages-1-phone-address.png'), fullPage: true });

    await page.fill('#address', '030 1234567');
    await button.click();
    await page.waitForSelector('#otp');
    assert.ok(await page.getByText('+4*******567').count() > 0, 'the number, read in Germany');
    await assertAccessible(page, 'branded code form');
    await page.screenshot({ path: join(screenshots, 'pages-2-phone-code.png'), fullPage: true });
    assert.deepEqual(problems, [], 'no CSP violation or script error');
  } finally {
    await page.close();
  }
});

test('pages as rendered for visitors without JavaScript pass axe', async () => {
  const url = await startPhoneVerification('nojs-axe-0001');
  const page = await browser.ctx.newPage();
  await withoutPageScripts(page);
  try {
    await page.goto(url);
    assert.equal(await page.locator('form[data-hydrated="true"]').count(), 0, 'not hydrated');
    await assertAccessible(page, 'address form without JavaScript');
    await page.screenshot({ path: join(screenshots, 'pages-3-nojs-address.png'), fullPage: true });

    await page.selectOption('#country', 'GB');
    await page.fill('#address', '020 7946 0958');
    await Promise.all([page.waitForNavigation(), page.click('button[type="submit"]')]);
    await page.waitForSelector('#otp');
    await assertAccessible(page, 'code form without JavaScript');
    await page.screenshot({ path: join(screenshots, 'pages-4-nojs-code.png'), fullPage: true });

    await page.fill('#otp', '000000');
    await Promise.all([page.waitForNavigation(), page.click('button[type="submit"]')]);
    await page.waitForSelector('text=That code is not right. 4 attempts left.');
    await assertAccessible(page, 'wrong code without JavaScript');
  } finally {
    await page.close();
  }
});

test('"Didn\'t get it?" moves a phone verification to another channel with a new code', async () => {
  const url = await startPhoneVerification('fallback-0001');
  const page = await browser.ctx.newPage();
  try {
    await page.goto(url);
    await page.waitForSelector('[data-hydrated="true"]', { timeout: 15_000 });
    await page.fill('#address', '030 1234567');
    await page.locator('form[data-hydrated] button[type="submit"]').click();
    await page.waitForSelector('#otp');
    const offer = page.locator('[data-role="fallbacks"]');
    assert.match(await offer.innerText(), /Didn't get it\?/);
    await assertAccessible(page, 'code form with a fallback');
    await page.screenshot({ path: join(screenshots, 'pages-5-fallback-offer.png'), fullPage: true });

    await Promise.all([page.waitForNavigation(), page.click('button[data-fallback="other"]')]);
    const address = page.locator('#address');
    assert.equal(await address.getAttribute('type'), 'text', 'the console provider takes any address');
    await page.waitForSelector('[data-hydrated="true"]', { timeout: 15_000 });
    await address.fill('jane@example.com');
    await page.locator('form[data-hydrated] button[type="submit"]').click();
    await page.waitForSelector('#otp');
    const code = await codeFromInbox(server.base, 'jane@example.com');
    await page.fill('#otp', code);
    await page.keyboard.press('Enter');
    await page.waitForSelector('[data-state="verified"]');
  } finally {
    await page.close();
  }
});

test('the code page loads its script and WASM brotli-compressed, within 100 KB', async () => {
  const url = await startPhoneVerification('weight-0001');
  const page = await browser.ctx.newPage();
  const assets = [];
  page.on('response', (res) => { if (res.url().includes('/pkg/')) assets.push(res); });
  // Earlier tests loaded the same files: measure a visit with nothing cached.
  const cdp = await browser.ctx.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
  try {
    await page.goto(url);
    await page.waitForSelector('[data-hydrated="true"]', { timeout: 15_000 });
    const loaded = [];
    for (const res of assets) {
      const name = new URL(res.url()).pathname;
      assert.equal(res.headers()['content-encoding'], 'br', `${name} is compressed`);
      const { responseBodySize } = await res.request().sizes();
      assert.ok(responseBodySize > 0, `${name} came over the network`);
      loaded.push([name, responseBodySize]);
    }
    const names = loaded.map(([name]) => name);
    for (const kind of ['.js', '.wasm', '.css']) {
      assert.ok(names.some((n) => n.endsWith(kind)), `a ${kind} file among ${names}`);
    }
    const scripts = loaded.filter(([n]) => !n.endsWith('.css')).reduce((sum, [, size]) => sum + size, 0);
    console.log(`code page JavaScript + WASM transferred: ${scripts} bytes`, loaded);
    assert.ok(scripts <= 100_000, `the page-weight budget is 100 KB compressed; this page takes ${scripts} bytes`);
  } finally {
    await page.close();
  }
});

test('closed states, a right-to-left language and a missing page pass axe', async () => {
  const start = async (id, form = {}) => {
    const [status, body] = await api(server.base, 'PUT', `/api/otp/${id}`, {
      provider: 'console', to: `${id}@example.com`, ...form,
    });
    assert.equal(status, 200, JSON.stringify(body));
    return body.data.url;
  };
  const expired = await start('expired-0001', { ttl: '1' });
  const cancelled = await start('cancelled-0001');
  const res = await api(server.base, 'POST', '/v1/verifications/cancelled-0001/cancel');
  assert.equal(res[0], 200, JSON.stringify(res[1]));
  const arabic = await start('arabic-0001');
  await new Promise((r) => setTimeout(r, 1_200));

  const page = await browser.ctx.newPage();
  try {
    for (const [name, url, selector] of [
      ['expired', expired, '[data-state="expired"]'],
      ['cancelled', cancelled, '[data-state="cancelled"]'],
      ['arabic', `${arabic}?lang=ar`, 'html[dir="rtl"][lang="ar"] #otp'],
    ]) {
      await page.goto(url);
      await page.waitForSelector(selector);
      await assertAccessible(page, `${name} page`);
      await page.screenshot({ path: join(screenshots, `pages-6-${name}.png`), fullPage: true });
    }
    const missing = await page.goto(`${server.base}/otp/e2e/no-such-verification`);
    assert.equal(missing.status(), 404);
    await assertAccessible(page, 'page not found');
    await page.screenshot({ path: join(screenshots, 'pages-6-not-found.png'), fullPage: true });
  } finally {
    await page.close();
  }
});
