// The tenant dashboard in Chromium: the owner made on the command line signs in, creates an
// app, reads its secret once, turns on test mode in the app's settings (a wrong value is
// refused first), writes a template (a broken one is refused with its line; the preview
// shows sample values, live while typing with JavaScript, on "Preview" without), adds a
// provider of the app's own (a form missing its secret is refused first) and sends a test
// message through it, adds an event webhook endpoint (its secret shown once), uses the
// secret against the API, finds the message, worded
// by that template and with its code, in the app's dev inbox, revokes the secret (the next API call is refused), invites a viewer who
// sees the app but no form to change it, reads the audit log and signs out; all of it
// with JavaScript on and off. axe-core checks every page, and each is saved as a
// screenshot.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  startServer, openBrowser, screenshots, assertAccessible, withoutPageScripts,
  createTenant as createTenantOf,
} from './harness.mjs';

let server;

before(async () => {
  server = await startServer();
});
after(async () => {
  await server?.stop();
});

function createTenant(email, name) {
  return createTenantOf(server, email, name);
}

async function signIn(page, email, password) {
  await page.goto(`${server.base}/dashboard`);
  assert.equal(new URL(page.url()).pathname, '/dashboard/sign-in');
  await page.fill('#email', email);
  await page.fill('#password', password);
  await Promise.all([page.waitForURL(`${server.base}/dashboard`), page.click('button[type=submit]')]);
}

async function createApp(page, name, namespace) {
  await page.fill('#app-name', name);
  await page.fill('#app-namespace', namespace);
  await Promise.all([page.waitForURL(`${server.base}/dashboard/apps`), page.click('text=Create app')]);
  return (await page.textContent('[data-role=secret]')).trim();
}

for (const javaScript of [true, false]) {
  const mode = javaScript ? 'js' : 'nojs';
  test(`an owner signs in, makes an app whose secret works, reads the audit log and signs out (${mode})`, async () => {
    const email = `owner-${mode}@e2e.example`;
    const password = createTenant(email, `Team ${mode}`);
    const browser = await openBrowser();
    try {
      const page = await browser.ctx.newPage();
      // Without JavaScript: the page exactly as the server rendered it (axe still runs).
      if (!javaScript) await withoutPageScripts(page);
      // The dashboard has no island: its pages load no hydration script and no WASM (the
      // templates page has one small script of its own, for the live preview).
      const scripts = [];
      page.on('request', (r) => { if (/\/pkg\/.*\.(js|wasm)$/.test(r.url())) scripts.push(r.url()); });
      await page.goto(`${server.base}/dashboard/sign-in`);
      await assertAccessible(page, 'sign-in');
      await page.screenshot({ path: join(screenshots, `dashboard-sign-in-${mode}.png`), fullPage: true });

      // A wrong password first: the form says so and keeps the address.
      await page.fill('#email', email);
      await page.fill('#password', 'not-the-password');
      await page.click('button[type=submit]');
      await page.waitForSelector('[role=alert]');
      assert.match(await page.textContent('[role=alert]'), /Wrong e-mail address or password/);
      assert.equal(await page.inputValue('#email'), email);
      await assertAccessible(page, 'sign-in refused');

      await signIn(page, email, password);
      assert.match(await page.textContent('[data-role=member]'), new RegExp(`${email} \\(owner\\)`));
      await assertAccessible(page, 'apps');
      await page.screenshot({ path: join(screenshots, `dashboard-apps-${mode}.png`), fullPage: true });

      const namespace = `shop-${mode}`;
      const secret = await createApp(page, 'The Shop', namespace);
      assert.equal(secret.length, 43);
      await assertAccessible(page, 'app created');
      await page.screenshot({ path: join(screenshots, `dashboard-app-created-${mode}.png`), fullPage: true });

      // Settings: a wrong value is refused with its reason and keeps what was typed;
      // then test mode, so the app's messages stay in its dev inbox.
      await page.fill('#ttl_secs', '300');
      await page.fill('#accent_color', 'red');
      await page.click('text=Save settings');
      await page.waitForSelector('[role=alert]');
      assert.match(await page.textContent('[role=alert]'), /accent color "red": write a colour as #rrggbb/);
      assert.equal(await page.inputValue('#accent_color'), 'red');
      assert.equal(await page.inputValue('#ttl_secs'), '300');
      await assertAccessible(page, 'settings refused');
      await page.fill('#accent_color', '#0f766e');
      await page.check('input[name=test_mode]');
      await Promise.all([
        page.waitForURL(`${server.base}/dashboard/apps/${namespace}`),
        page.click('text=Save settings'),
      ]);
      assert.equal(await page.inputValue('#ttl_secs'), '300');
      assert.equal(await page.isChecked('input[name=test_mode]'), true);
      await page.screenshot({ path: join(screenshots, `dashboard-settings-${mode}.png`), fullPage: true });

      // A template: a broken one is refused with its line; the preview fills in samples.
      await page.goto(`${server.base}/dashboard/apps/${namespace}/templates`);
      await assertAccessible(page, 'templates');
      await page.selectOption('#template-channel', 'other');
      await page.fill('#template-body', 'Shop code {{ OTP }\nThanks');
      await page.click('button:has-text("Save template")');
      await page.waitForSelector('[role=alert]');
      assert.match(await page.textContent('[role=alert]'), /body\.txt:1/);
      await page.fill('#template-body', 'Shop code {{ OTP }} for {{ AppName }}.');
      if (javaScript) {
        // The live preview follows the typing, with no button pressed.
        await page.waitForFunction(() => document.querySelector('[data-role=preview-text]')?.textContent
          === 'Shop code 123456 for The Shop.');
        assert.equal(await page.isVisible('[data-role=template-error]'), false, 'the old reason is gone');
      } else {
        await page.click('button:has-text("Preview")');
        await page.waitForSelector('[data-role=preview-text]');
      }
      assert.equal((await page.textContent('[data-role=preview-text]')).trim(), 'Shop code 123456 for The Shop.');
      await assertAccessible(page, 'template preview');
      await page.screenshot({ path: join(screenshots, `dashboard-template-${mode}.png`), fullPage: true });
      await Promise.all([
        page.waitForURL(/\/templates\?channel=other/),
        page.click('button:has-text("Save template")'),
      ]);
      assert.ok(await page.isVisible('[data-template="other/"]'));

      // A provider of the app's own: a Twilio form without its token is refused and
      // names the field, keeping what was typed; a dev inbox provider is saved and takes
      // a test message.
      await page.goto(`${server.base}/dashboard/apps/${namespace}/providers`);
      await assertAccessible(page, 'providers');
      await page.selectOption('#provider-kind', 'twilio');
      await Promise.all([
        page.waitForURL(/\/providers\?kind=twilio$/),
        page.click('button:has-text("Continue")'),
      ]);
      await assertAccessible(page, 'provider form');
      await page.fill('#provider-id', 'tw');
      await page.fill('#provider-account_sid', 'ACe2e');
      await page.fill('#provider-from', '+15005550006');
      await page.click('button:has-text("Save provider")');
      await page.waitForSelector('[data-role=provider-error]');
      assert.equal((await page.textContent('[data-role=provider-error]')).trim(), 'Auth token is required.');
      assert.equal(await page.inputValue('#provider-account_sid'), 'ACe2e');
      await page.goto(`${server.base}/dashboard/apps/${namespace}/providers?kind=console`);
      await page.fill('#provider-id', 'kept');
      await Promise.all([
        page.waitForURL(`${server.base}/dashboard/apps/${namespace}/providers`),
        page.click('button:has-text("Save provider")'),
      ]);
      assert.ok(await page.isVisible('[data-provider="kept"]'));
      await page.fill('#test-to-kept', `test-${mode}@example.com`);
      await page.click('button:has-text("Send test")');
      await page.waitForSelector('[data-role=test-outcome]');
      assert.match(await page.textContent('[data-role=test-outcome]'), /^kept accepted the test message \(its id: dev-\d+\)\.$/);
      await assertAccessible(page, 'provider tested');
      await page.screenshot({ path: join(screenshots, `dashboard-providers-${mode}.png`), fullPage: true });

      // An event webhook endpoint: one on the cloud metadata address is refused; one the
      // flow below never fires (only "locked") is added and its secret shown once.
      await page.goto(`${server.base}/dashboard/apps/${namespace}/webhooks`);
      await assertAccessible(page, 'webhooks');
      await page.fill('#webhook-url', 'http://169.254.169.254/latest');
      await page.check('input[name=event_locked]');
      await page.click('button:has-text("Add endpoint")');
      await page.waitForSelector('[data-role=webhook-error]');
      assert.match(await page.textContent('[data-role=webhook-error]'), /may not reach/);
      await page.fill('#webhook-url', 'https://hooks.shop.example/otp');
      await page.click('button:has-text("Add endpoint")');
      await page.waitForSelector('[data-role=webhook-secret]');
      assert.match(await page.textContent('[data-role=webhook-secret]'), /^whsec_[A-Za-z0-9+/]{43}=$/);
      assert.ok(await page.isVisible('[data-endpoint="https://hooks.shop.example/otp"]'));
      await assertAccessible(page, 'webhook added');
      await page.screenshot({ path: join(screenshots, `dashboard-webhooks-${mode}.png`), fullPage: true });

      // The secret is the app's credential for the API; the message goes through the
      // app's own provider.
      const res = await fetch(`${server.base}/api/otp/e2e-${mode}-0001`, {
        method: 'PUT',
        headers: {
          authorization: 'Basic ' + Buffer.from(`${namespace}:${secret}`).toString('base64'),
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({ provider: 'kept', to: `user-${mode}@example.com` }).toString(),
      });
      assert.equal(res.status, 200);

      // The message went to the app's dev inbox.
      const to = `user-${mode}@example.com`;
      let kept = false;
      for (let i = 0; i < 50 && !kept; i += 1) {
        await page.goto(`${server.base}/dashboard/apps/${namespace}/inbox`);
        kept = await page.isVisible(`[data-inbox-to="${to}"]`);
        if (!kept) await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(kept, 'the message is in the dev inbox');
      assert.match(await page.textContent(`[data-inbox-to="${to}"] [data-role=inbox-body]`), /^Shop code \d{6} for The Shop\./);
      await assertAccessible(page, 'dev inbox');
      await page.screenshot({ path: join(screenshots, `dashboard-inbox-${mode}.png`), fullPage: true });

      // The verification's timeline, found by its id on the app's page.
      await page.goto(`${server.base}/dashboard/apps/${namespace}`);
      await page.fill('#find-verification', `e2e-${mode}-0001`);
      await Promise.all([
        page.waitForURL(/\/verifications\?id=/),
        page.click('button:has-text("Show its timeline")'),
      ]);
      for (const what of ['created', 'sent']) {
        assert.ok(await page.isVisible(`[data-timeline=${what}]`), what);
      }
      assert.equal((await page.content()).includes(to), false, 'the address is masked');
      await assertAccessible(page, 'timeline');
      await page.screenshot({ path: join(screenshots, `dashboard-timeline-${mode}.png`), fullPage: true });

      // The app's stats: the one verification started is a bar of the volume chart and
      // the first step of the funnel; the range form works with or without JavaScript.
      await page.goto(`${server.base}/dashboard/apps/${namespace}`);
      await Promise.all([
        page.waitForURL(/\/stats$/),
        page.click('a:has-text("Volume, funnel, providers and speed")'),
      ]);
      assert.equal(await page.textContent('[data-figure="Started"]'), '1');
      const bars = await page.$$eval('[data-chart=volume] rect[data-value]', (rs) => rs.map((r) => Number(r.dataset.value)));
      assert.deepEqual(bars, [1], 'one bar, of one verification');
      assert.equal(await page.getAttribute('[data-chart=funnel] rect[data-label=Started]', 'data-value'), '1');
      // Hovering a bar shows its value: at once with JavaScript, as the browser's own
      // tooltip (the bar's title) without.
      await page.hover('[data-chart=volume] rect[data-value]');
      if (mode === 'js') {
        assert.ok(await page.isVisible('[data-chart=volume] [data-role=chart-tip]'), 'the tooltip shows');
        assert.match(await page.textContent('[data-chart=volume] [data-role=chart-tip]'), /: 1$/);
      } else {
        assert.equal(await page.isVisible('[data-role=chart-tip]'), false);
        assert.match(await page.textContent('[data-chart=volume] rect[data-value] title'), /: 1$/);
      }
      await page.selectOption('#range', '7d');
      await Promise.all([
        page.waitForURL(/range=7d/),
        page.click('button:has-text("Show")'),
      ]);
      assert.equal(await page.textContent('[data-figure="Started"]'), '1');
      assert.match(await page.textContent('[data-chart=volume] figcaption'), /per day/);
      await assertAccessible(page, 'stats');
      await page.screenshot({ path: join(screenshots, `dashboard-stats-${mode}.png`), fullPage: true });

      // The history: filtered, then a row opens its timeline; the CSV has the same rows.
      await page.goto(`${server.base}/dashboard/apps/${namespace}/history`);
      await page.selectOption('#status', 'pending');
      await Promise.all([
        page.waitForURL(/status=pending/),
        page.click('button:has-text("Filter")'),
      ]);
      const rows = await page.$$eval('[data-history]', (rs) => rs.map((r) => r.dataset.history));
      assert.deepEqual(rows, [`e2e-${mode}-0001`]);
      assert.match(await page.textContent(`[data-history="e2e-${mode}-0001"] [data-col=to]`), /^us\*+@example\.com$/);
      assert.equal((await page.content()).includes(to), false, 'the address is masked');
      await assertAccessible(page, 'history');
      await page.screenshot({ path: join(screenshots, `dashboard-history-${mode}.png`), fullPage: true });
      const [download] = await Promise.all([
        page.waitForEvent('download'),
        page.click('a:has-text("Download all matching as CSV")'),
      ]);
      const csv = await readFile(await download.path(), 'utf8');
      const csvLines = csv.trim().split('\r\n');
      assert.equal(csvLines.length, 2, csv);
      assert.ok(csvLines[1].startsWith(`e2e-${mode}-0001,`));
      assert.equal(csv.includes(to), false, 'the export masks the address too');
      await Promise.all([
        page.waitForURL(/\/verifications\?id=/),
        page.click(`[data-history="e2e-${mode}-0001"] a`),
      ]);
      assert.ok(await page.isVisible('[data-timeline=created]'));

      await page.goto(`${server.base}/dashboard`);
      assert.ok(await page.isVisible(`[data-namespace="${namespace}"]`));
      assert.equal((await page.content()).includes(secret), false, 'the secret is shown once');
      await page.click(`text=The Shop`);
      assert.equal(await page.textContent('[data-role=namespace]'), namespace);
      await assertAccessible(page, 'app');
      await page.screenshot({ path: join(screenshots, `dashboard-app-${mode}.png`), fullPage: true });

      // Revoked in the dashboard: the next API call with it is refused.
      await Promise.all([
        page.waitForURL(`${server.base}/dashboard/apps/${namespace}`),
        page.click('[data-secret] button:has-text("Revoke")'),
      ]);
      assert.equal(await page.isVisible('[data-secret]'), false);
      const refused = await fetch(`${server.base}/api/providers`, {
        headers: { authorization: 'Basic ' + Buffer.from(`${namespace}:${secret}`).toString('base64') },
      });
      assert.equal(refused.status, 401);

      // A viewer, invited by the owner, sees the app and its settings but cannot change them.
      await page.goto(`${server.base}/dashboard/members`);
      await page.fill('#invite-email', `viewer-${mode}@e2e.example`);
      await page.selectOption('#invite-role', 'viewer');
      await page.click('button:has-text("Invite")');
      const link = (await page.textContent('[data-role=invite-link]')).trim();
      await assertAccessible(page, 'members');
      const viewerBrowser = await openBrowser();
      try {
        const viewer = await viewerBrowser.ctx.newPage();
        if (!javaScript) await withoutPageScripts(viewer);
        await viewer.goto(link);
        await assertAccessible(viewer, 'invitation');
        await viewer.fill('#new-password', 'a viewer password');
        await Promise.all([viewer.waitForURL(`${server.base}/dashboard`), viewer.click('button:has-text("Join")')]);
        await viewer.goto(`${server.base}/dashboard/apps/${namespace}`);
        assert.equal(await viewer.inputValue('#ttl_secs'), '300');
        assert.equal(await viewer.isDisabled('#ttl_secs'), true);
        for (const action of ['Save settings', 'New secret', 'Rename', 'Delete app']) {
          assert.equal(await viewer.isVisible(`button:has-text("${action}")`), false, action);
        }
        await assertAccessible(viewer, 'app as a viewer');
        await viewer.screenshot({ path: join(screenshots, `dashboard-viewer-${mode}.png`), fullPage: true });
      } finally {
        await viewerBrowser.close();
      }

      await page.goto(`${server.base}/dashboard/audit`);
      for (const action of ['signed_in', 'sign_in_failed', 'app_created', 'app_settings_changed', 'template_saved', 'provider_saved', 'provider_tested', 'webhook_added', 'secret_revoked', 'member_invited']) {
        assert.ok(await page.isVisible(`[data-action=${action}]`), action);
      }
      await assertAccessible(page, 'audit log');
      await page.screenshot({ path: join(screenshots, `dashboard-audit-${mode}.png`), fullPage: true });

      await Promise.all([page.waitForURL(`${server.base}/dashboard/sign-in`), page.click('text=Sign out')]);
      await page.goto(`${server.base}/dashboard`);
      assert.equal(new URL(page.url()).pathname, '/dashboard/sign-in', 'signed out on the server');
      assert.deepEqual(scripts, [], 'no hydration script or WASM on any dashboard page');
    } finally {
      await browser.close();
    }
  });
}
