// One verification end to end in Chromium: created through the otpgateway API, the code read
// from the dev inbox, typed into the hosted page. Once hydrated (JavaScript on) and once
// with JavaScript off, with a screenshot of every state.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startServer, openBrowser, api, codeFromInbox, screenshots } from './harness.mjs';

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

async function startVerification(id, to) {
  const [status, body] = await api(server.base, 'PUT', `/api/otp/${id}`, { to, provider: 'console' });
  assert.equal(status, 200, JSON.stringify(body));
  assert.equal(body.data.url, `${server.base}/otp/e2e/${id}`);
  return { url: body.data.url, code: await codeFromInbox(server.base, to) };
}

function wrongCode(code) {
  return code === '000000' ? '111111' : '000000';
}

test('a hydrated code page verifies in place, without a reload', async () => {
  const { url, code } = await startVerification('js-0001', 'js@example.com');
  const browser = await openBrowser();
  try {
    const page = await browser.ctx.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });

    await page.goto(url);
    // Only an Effect sets this, and effects run only after hydration.
    await page.waitForSelector('form[data-hydrated="true"]', { timeout: 15_000 });
    await page.screenshot({ path: join(screenshots, 'js-1-code-page.png'), fullPage: true });
    await page.evaluate(() => { window.__sameDocument = true; });

    await page.fill('#otp', wrongCode(code));
    await page.click('button[type="submit"]');
    await page.waitForSelector('text=That code is not right. 4 attempts left.');
    await page.screenshot({ path: join(screenshots, 'js-2-wrong-code.png'), fullPage: true });

    await page.fill('#otp', code);
    await page.click('button[type="submit"]');
    await page.waitForSelector('[data-state="verified"]');
    await page.screenshot({ path: join(screenshots, 'js-3-verified.png'), fullPage: true });
    assert.equal(await page.evaluate(() => window.__sameDocument), true, 'verified without navigating');
    assert.equal(page.url(), url);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
  const [status, body] = await api(server.base, 'POST', '/api/otp/js-0001/status');
  assert.equal(status, 200, JSON.stringify(body));
  assert.equal(body.data.closed, true);
});

test('with JavaScript disabled the form still verifies', async () => {
  const { url, code } = await startVerification('nojs-0001', 'nojs@example.com');
  const browser = await openBrowser({ javaScriptEnabled: false });
  try {
    const page = await browser.ctx.newPage();
    await page.goto(url);
    assert.equal(await page.locator('form[data-hydrated="true"]').count(), 0, 'not hydrated');
    await page.screenshot({ path: join(screenshots, 'nojs-1-code-page.png'), fullPage: true });

    await page.fill('#otp', wrongCode(code));
    await Promise.all([page.waitForURL(/result=incorrect/), page.click('button[type="submit"]')]);
    await page.waitForSelector('text=That code is not right. 4 attempts left.');
    await page.screenshot({ path: join(screenshots, 'nojs-2-wrong-code.png'), fullPage: true });

    await page.fill('#otp', code);
    // Back on the page itself (keeping its language), with no outcome to report.
    const back = (u) => u.pathname === new URL(url).pathname && !u.searchParams.has('result');
    await Promise.all([page.waitForURL(back), page.click('button[type="submit"]')]);
    await page.waitForSelector('[data-state="verified"]');
    await page.screenshot({ path: join(screenshots, 'nojs-3-verified.png'), fullPage: true });
  } finally {
    await browser.close();
  }
  const [status, body] = await api(server.base, 'POST', '/api/otp/nojs-0001/status');
  assert.equal(status, 200, JSON.stringify(body));
  assert.equal(body.data.closed, true);
});
