// Sign-in errors, logout, error display of the API's reasons, and live list insertion/assignment.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ACCOUNTS, DEMO_PASSWORD, apiFromPage, launchBrowser, login, newPage, startServer } from './harness.mjs';

let server;
let browser;
const contexts = [];
before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});
after(async () => {
  for (const c of contexts) await c.close().catch(() => {});
  if (browser) await browser.close().catch(() => {});
  if (server) await server.stop();
});
async function open(opts) {
  const r = await newPage(browser, opts);
  contexts.push(r.ctx);
  return r.page;
}

describe('session and live list', () => {
  test('a wrong password is refused with a readable message; logout returns to the login form', async () => {
    const p = await open();
    await p.goto(`${server.base}/`);
    await p.evaluate(() => localStorage.setItem('denwa.lang', 'en'));
    await p.reload();
    await p.locator('input[name=email]').fill(ACCOUNTS.owner);
    await p.locator('input[name=password]').fill(`${DEMO_PASSWORD}-wrong`);
    await p.locator('form button[type=submit]').click();
    await p.getByRole('alert').filter({ hasText: 'The email or password is wrong.' }).waitFor();
    assert.equal(await p.evaluate(() => localStorage.getItem('denwa.token')), null);

    await p.locator('input[name=password]').fill(DEMO_PASSWORD);
    await p.locator('form button[type=submit]').click();
    await p.locator('[data-testid=ws-status][data-state=live]').waitFor();
    const token = await p.evaluate(() => localStorage.getItem('denwa.token'));
    assert.ok(token);
    await p.getByRole('button', { name: 'Log out' }).click();
    await p.getByRole('heading', { name: 'Sign in to Denwa' }).waitFor();
    assert.equal(await p.evaluate(() => localStorage.getItem('denwa.token')), null);
    // The old token is dead on the server too.
    const r = await p.evaluate(async (t) => (await fetch('/api/v1/me', { headers: { authorization: `Bearer ${t}` } })).status, token);
    assert.equal(r, 401);
    await p.reload();
    await p.getByRole('heading', { name: 'Sign in to Denwa' }).waitFor();
  });

  test('adding a lead with a number another customer has shows the server reason (409)', async () => {
    const p = await open();
    await login(p, server.base, ACCOUNTS.owner, { lang: 'en' });
    const cid = (await apiFromPage(p, 'GET', '/api/v1/me')).json.channels[0].id;
    const all = await apiFromPage(p, 'GET', `/api/v1/channels/${cid}/customers?limit=200`);
    const taken = all.json.find((c) => c.phones.length > 0).phones[0];
    await p.evaluate(() => (location.hash = '#/contacts'));
    await p.getByTestId('add-lead').click();
    await p.getByTestId('customer-name-input').fill('Duplicate number');
    await p.getByTestId('add-phone').click();
    await p.getByTestId('phone-input').fill(taken.display);
    await p.getByTestId('customer-save').click();
    const alert = p.locator('[data-testid=error][data-code=conflict]');
    await alert.waitFor();
    assert.match(await alert.innerText(), /conflicts with existing data/);
    await p.getByTestId('phone-input').fill('not a number');
    await p.getByTestId('customer-save').click();
    await p.locator('[data-testid=error][data-code=invalid_phone_number]').waitFor();
    assert.deepEqual(p.errors, []);
  });

  test('a chat created elsewhere appears in the list live, and an assignment shows who', async () => {
    const a = await open();
    const b = await open();
    await login(a, server.base, ACCOUNTS.owner, { lang: 'en' });
    await login(b, server.base, ACCOUNTS.operator, { lang: 'en' });
    const cid = (await apiFromPage(a, 'GET', '/api/v1/me')).json.channels[0].id;
    await b.locator('[data-testid=chat-list][aria-busy=false]').waitFor({ state: 'attached' });
    await b.evaluate(() => (window.__noReload = true));

    const customers = await apiFromPage(a, 'GET', `/api/v1/channels/${cid}/customers?limit=200`);
    const created = await apiFromPage(a, 'POST', `/api/v1/channels/${cid}/chats`, {
      customer_id: customers.json[0].id,
      medium: 'chat',
      first_message: 'Live insertion check',
    });
    assert.ok(created.status === 200 || created.status === 201, created.text);
    const id = created.json.id;
    const rowB = b.locator(`[data-testid=chat-row][data-chat-id="${id}"]`);
    await rowB.waitFor();
    assert.equal(await b.getByTestId('chat-row').first().getAttribute('data-chat-id'), String(id), 'newest activity first');

    // Keyword search (server-side) finds it by its message, and nothing for a word nobody wrote.
    // The index commits each burst of messages as it arrives; under a loaded disk the
    // commit can take a moment, so search again until the new line is in (at most 15 s).
    for (let tries = 0; ; tries++) {
      await b.getByTestId('filter-keyword').fill('insertion');
      await b.getByRole('button', { name: 'Search' }).click();
      await b.locator('[data-testid=chat-list][data-query="state=opened&q=insertion"]').waitFor({ state: 'attached' });
      if ((await b.getByTestId('chat-row').count()) === 1 || tries >= 20) break;
      await b.getByRole('button', { name: 'Reset' }).click();
      await b.locator('[data-testid=chat-list][data-query="state=opened"]').waitFor({ state: 'attached' });
      await b.waitForTimeout(500);
    }
    assert.equal(await b.getByTestId('chat-row').count(), 1);
    await rowB.waitFor();
    await b.getByTestId('filter-keyword').fill('zzqxnomatch');
    await b.getByRole('button', { name: 'Search' }).click();
    await b.locator('[data-testid=chat-list][data-query="state=opened&q=zzqxnomatch"]').waitFor({ state: 'attached' });
    assert.equal(await b.getByTestId('chat-row').count(), 0);
    await b.getByRole('button', { name: 'Reset' }).click();
    await b.locator('[data-testid=chat-list][data-query="state=opened"]').waitFor({ state: 'attached' });
    await rowB.waitFor();

    // A assigns it to B's user through the picker; B's row shows the name live.
    const staff = await apiFromPage(a, 'GET', `/api/v1/channels/${cid}/staff`);
    const tanaka = staff.json.find((m) => m.staff.email === ACCOUNTS.operator).staff;
    await a.evaluate((x) => (location.hash = `#/inbox/${x}`), id);
    await a.locator(`[data-testid=chat-view][data-chat-id="${id}"]`).waitFor();
    await a.getByTestId('assignee-picker').selectOption(String(tanaka.id));
    await rowB.getByText(tanaka.name).waitFor();
    await a.locator('[data-testid=timeline-item][data-kind=assignee_changed]', { hasText: tanaka.name }).waitFor();

    // Snooze then reopen from A; B's "opened" list drops and regains the chat.
    await a.getByTestId('snooze-chat').click();
    await a.locator(`[data-testid=chat-view][data-state=snoozed]`).waitFor();
    await rowB.waitFor({ state: 'detached' });
    await a.getByTestId('reopen-chat').click();
    await a.locator(`[data-testid=chat-view][data-state=opened]`).waitFor();
    await rowB.waitFor();
    assert.equal(await b.evaluate(() => window.__noReload), true);
    assert.deepEqual(a.errors, []);
    assert.deepEqual(b.errors, []);
  });
});
