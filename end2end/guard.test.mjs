// The fraud guard in Chromium: a bot asks an app for codes to Nigerian numbers counting up
// (SMS to an SMS gateway on loopback); within seconds the server's own upkeep holds the
// country, the app's dashboard page shows the banner, the fraud-guard page shows the hold,
// why, the refused sends and the spend, and the owner lifts it; Nigeria is sent to again.
// axe-core checks the page and it is saved as a screenshot.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { join } from 'node:path';
import {
  startServer, openBrowser, screenshots, assertAccessible, createTenant, freePort,
} from './harness.mjs';

let server;
let gateway;
let received = 0;

before(async () => {
  const port = await freePort();
  gateway = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      received += 1;
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('OK');
    });
  });
  await new Promise((r) => gateway.listen(port, '127.0.0.1', r));
  server = await startServer({
    delivery: 'allow_loopback = true',
    extra: `[limits]\ncaller_limits = false\n\n[guard.prices.sms]\n"*" = "0.05"\n\n`
      + `[providers.sms]\ntype = "http_sms"\nurl = "http://127.0.0.1:${port}/send"\n`
      + `[providers.sms.json]\nto = "{{ to }}"\ntext = "{{ body }}"\n`,
  });
});
after(async () => {
  await server?.stop();
  await new Promise((r) => gateway?.close(r));
});

async function start(secret, to) {
  const res = await fetch(`${server.base}/v1/verifications`, {
    method: 'POST',
    headers: { authorization: `Bearer shop:${secret}`, 'content-type': 'application/json' },
    body: JSON.stringify({ provider: 'sms', to }),
  });
  return [res.status, await res.json()];
}

test('a pumping attack is held by the upkeep and its owner lifts the hold', async () => {
  const email = 'owner-guard@e2e.example';
  const password = createTenant(server, email, 'Guarded');
  const browser = await openBrowser();
  try {
    const page = await browser.ctx.newPage();
    await page.goto(`${server.base}/dashboard`);
    await page.fill('#email', email);
    await page.fill('#password', password);
    await Promise.all([page.waitForURL(`${server.base}/dashboard`), page.click('button[type=submit]')]);
    await page.fill('#app-name', 'Shop');
    await page.fill('#app-namespace', 'shop');
    await Promise.all([page.waitForURL(`${server.base}/dashboard/apps`), page.click('text=Create app')]);
    const secret = (await page.textContent('[data-role=secret]')).trim();

    // The bot: sequential numbers, nobody enters a code. The server's upkeep judges every
    // second; once it holds the country, sends are refused with suspected_fraud.
    let sent = 0;
    let held = null;
    for (let n = 0; n < 1500 && !held; n++) {
      const [status, body] = await start(secret, `+234803${String(n).padStart(7, '0')}`);
      if (status === 201) sent += 1;
      else if (status === 403 && n >= 100 && body.error.code === 'suspected_fraud') {
        // Holds of blocks of 100 numbers come first; a number of another block tells a
        // country hold (and counts as sent when it is not held yet).
        const other = `+234809${String(Math.floor(Math.random() * 1e7)).padStart(7, '0')}`;
        const [fresh, freshBody] = await start(secret, other);
        if (fresh === 403) held = freshBody;
        else sent += 1;
      } else assert.equal(status, 403, JSON.stringify(body));
      if (n % 20 === 19) await new Promise((r) => setTimeout(r, 300));
    }
    assert.ok(held, `the country was held (${sent} sent)`);
    assert.equal(held.error.code, 'suspected_fraud');
    assert.ok(sent >= 100 && sent <= 300, `sent before the hold: ${sent}`);

    await page.goto(`${server.base}/dashboard/apps/shop`);
    assert.match(await page.textContent('[data-role=held-banner]'), /numbers of NG/);
    await page.click('text=Review and lift holds');
    await page.waitForURL(`${server.base}/dashboard/apps/shop/guard`);
    assert.match(await page.textContent('main'), /far more sends than usual/);
    assert.match(await page.textContent('[data-refusal=suspected_fraud]'), /NG/);
    assert.match(await page.textContent('[data-role=spend-today]'), new RegExp(`${sent} messages`));
    await assertAccessible(page, 'fraud guard');
    await page.screenshot({ path: join(screenshots, 'dashboard-guard.png'), fullPage: true });

    const row = page.locator('tr', { hasText: 'numbers of NG' });
    await Promise.all([
      page.waitForURL(`${server.base}/dashboard/apps/shop/guard`),
      row.locator('button', { hasText: 'Lift' }).click(),
    ]);
    assert.match(await page.locator('tr', { hasText: 'numbers of NG' }).textContent(), new RegExp(`by ${email}`));
    const [status, body] = await start(secret, '+2348091234567');
    assert.equal(status, 201, JSON.stringify(body));
  } finally {
    await browser.close();
  }
});
