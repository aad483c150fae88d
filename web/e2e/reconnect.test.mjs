// Live updates survive a server restart: the console reconnects (with backoff) and resyncs.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ACCOUNTS, apiFromPage, launchBrowser, login, newPage, startServer } from './harness.mjs';

let server;
let browser;
before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});
after(async () => {
  if (browser) await browser.close().catch(() => {});
  if (server) await server.stop();
});

test('the events WebSocket reconnects after the server restarts, then live updates flow again', async () => {
  const { ctx, page: p } = await newPage(browser);
  try {
    await login(p, server.base, ACCOUNTS.owner, { lang: 'en' });
    const cid = (await apiFromPage(p, 'GET', '/api/v1/me')).json.channels[0].id;
    await p.evaluate(() => (window.__noReload = true));
    await server.halt();
    await p.locator('[data-testid=ws-status][data-state=reconnecting]').waitFor();
    await server.start();
    await p.locator('[data-testid=ws-status][data-state=live]').waitFor({ timeout: 20_000 });

    const customers = await apiFromPage(p, 'GET', `/api/v1/channels/${cid}/customers?limit=200`);
    assert.equal(customers.status, 200, 'the session survived the restart');
    const created = await apiFromPage(p, 'POST', `/api/v1/channels/${cid}/chats`, {
      customer_id: customers.json[0].id,
      medium: 'chat',
      first_message: 'after restart',
    });
    assert.ok(created.status < 300, created.text);
    await p.locator(`[data-testid=chat-row][data-chat-id="${created.json.id}"]`).waitFor();
    assert.equal(await p.evaluate(() => window.__noReload), true);
  } finally {
    await ctx.close();
  }
});
