// A staff member of several channels picks one, and can switch (channel picker).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ACCOUNTS, DEMO_PASSWORD, apiFromPage, launchBrowser, newPage, startServer } from './harness.mjs';

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

test('channel picker: several channels ask which one, each shows its own chats, switching works', async () => {
  const name = `Second Shop ${Date.now().toString(36)}`;
  const out = server.admin('create-channel', '--name', name, '--region', 'US', '--time-zone', 'America/New_York');
  const m = out.match(/channel (\d+)/);
  assert.ok(m, `create-channel printed an id: ${out}`);
  server.admin('add-staff', '--channel', m[1], '--email', ACCOUNTS.owner, '--role', 'manager');

  const { ctx, page: p } = await newPage(browser);
  try {
    await p.goto(`${server.base}/`);
    await p.evaluate(() => localStorage.setItem('denwa.lang', 'en'));
    await p.reload();
    await p.locator('input[name=email]').fill(ACCOUNTS.owner);
    await p.locator('input[name=password]').fill(DEMO_PASSWORD);
    await p.locator('form button[type=submit]').click();
    await p.getByRole('heading', { name: 'Choose a channel' }).waitFor();
    const options = p.getByTestId('channel-option');
    assert.equal(await options.count(), 2);
    const me = await apiFromPage(p, 'GET', '/api/v1/me');
    const second = me.json.channels.find((c) => c.name === name);
    assert.ok(second, 'the new channel is in /me');

    await options.filter({ hasText: name }).click();
    await p.locator('[data-testid=ws-status][data-state=live]').waitFor();
    await p.getByTestId('channel-name').filter({ hasText: name }).waitFor();
    await p.locator('[data-testid=chat-list][aria-busy=false]').waitFor({ state: 'attached' });
    await p.getByText('No chats match these filters.').waitFor();
    assert.equal(await p.getByTestId('chat-row').count(), 0, 'the new channel has no chats of the demo channel');

    await p.getByRole('link', { name: 'Switch channel' }).click();
    await p.getByTestId('channel-option').filter({ hasText: 'Denwa Demo' }).click();
    await p.getByTestId('channel-name').filter({ hasText: 'Denwa Demo' }).waitFor();
    await p.getByTestId('chat-row').first().waitFor();
    // The choice is remembered.
    await p.reload();
    await p.getByTestId('channel-name').filter({ hasText: 'Denwa Demo' }).waitFor();
    assert.deepEqual(p.errors, []);
  } finally {
    await ctx.close();
  }
});
