// End-to-end tests of the staff console against the real server (see harness.mjs for env vars).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ACCOUNTS, apiFromPage, launchBrowser, login, newPage, shot, searchContacts, demoChannelId, startServer } from './harness.mjs';

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

const uniq = () => Math.random().toString(36).slice(2, 8);

describe('staff console', () => {
  test('phone chat: filter, open, note, tag, close — a second staff member sees it live', async () => {
    const a = await open();
    const b = await open();
    await login(a, server.base, ACCOUNTS.operator, { lang: 'en' });
    await login(b, server.base, ACCOUNTS.manager, { lang: 'en' });

    // A: "integration: phone" (AS-3) shows only phone chats, each with a phone icon (IN-5).
    await a.getByTestId('filter-state').selectOption('opened');
    await a.getByTestId('filter-integration-phone').check();
    const rows = a.getByTestId('chat-row');
    await a.locator('[data-testid=chat-list][data-query="state=opened&integration=phone"][aria-busy=false]').waitFor({ state: 'attached' });
    const n = await rows.count();
    assert.ok(n > 0, 'the demo has opened phone chats');
    for (let i = 0; i < n; i++) {
      assert.equal(await rows.nth(i).getAttribute('data-medium'), 'phone', `row ${i} is a phone chat`);
      assert.equal(await rows.nth(i).getByTestId('phone-icon').count(), 1, `row ${i} has a phone icon`);
    }
    const cid = await demoChannelId(a);
    const api = await apiFromPage(a, 'GET', `/api/v1/channels/${cid}/chats?integration=phone&state=opened&limit=50`);
    assert.equal(api.status, 200);
    assert.ok(api.json.chats.every((c) => c.source === 'phone'), 'integration=phone returns only chats that came in by phone');
    assert.equal(n, api.json.chats.length, 'the list shows what the API returns');

    const chatId = Number(await rows.first().getAttribute('data-chat-id'));
    await rows.first().click();
    const viewA = a.locator(`[data-testid=chat-view][data-chat-id="${chatId}"]`);
    await viewA.waitFor();

    // B opens the same chat without reloading (hash navigation) and marks the page to detect reloads.
    const bListHadIt = (await b.locator(`[data-testid=chat-row][data-chat-id="${chatId}"]`).count()) === 1;
    await b.evaluate((id) => {
      location.hash = `#/inbox/${id}`;
      window.__noReload = true;
    }, chatId);
    const viewB = b.locator(`[data-testid=chat-view][data-chat-id="${chatId}"]`);
    await viewB.waitFor();

    // Note
    const note = `E2E note ${uniq()} — 折り返し希望`;
    await a.getByTestId('composer-input').fill(note);
    await a.getByTestId('composer-submit').click();
    await a.getByTestId('timeline').getByText(note).waitFor();
    await b.getByTestId('timeline').getByText(note).waitFor();
    const noteItem = b.locator('[data-testid=timeline-item][data-kind=note_added]', { hasText: note });
    assert.equal(await noteItem.count(), 1, 'the note appears once in B');
    const staff = await apiFromPage(b, 'GET', `/api/v1/channels/${cid}/staff`);
    const author = staff.json.find((m) => m.staff.email === ACCOUNTS.operator).staff.name;
    assert.ok((await noteItem.innerText()).includes(author), `the note shows its author ${author}`);

    // Tag
    const tag = `e2e-${uniq()}`;
    await a.getByTestId('tag-input').fill(tag);
    await a.getByTestId('tag-add').click();
    await a.getByTestId('chat-tags').getByText(tag, { exact: true }).waitFor();
    await b.getByTestId('chat-tags').getByText(tag, { exact: true }).waitFor();
    if (bListHadIt) await b.locator(`[data-testid=chat-row][data-chat-id="${chatId}"]`).getByText(tag, { exact: true }).waitFor();
    await shot(a, 'phone-chat-a');

    // Close
    await a.getByTestId('close-chat').click();
    await a.locator(`[data-testid=chat-view][data-chat-id="${chatId}"][data-state=closed]`).waitFor();
    await b.locator(`[data-testid=chat-view][data-chat-id="${chatId}"][data-state=closed]`).waitFor();
    await b.locator('[data-testid=timeline-item][data-kind=state_changed]').last().waitFor();
    // B's list filters "opened": the closed chat leaves it, live.
    await b.locator(`[data-testid=chat-row][data-chat-id="${chatId}"]`).waitFor({ state: 'detached' });
    await shot(b, 'phone-chat-b-live');

    assert.equal(await b.evaluate(() => window.__noReload), true, 'B saw all of it without a reload');
    const detail = await apiFromPage(b, 'GET', `/api/v1/channels/${cid}/chats/${chatId}`);
    assert.equal(detail.json.chat.state, 'closed');
    assert.ok(detail.json.chat.tags.includes(tag));
    assert.deepEqual(a.errors, []);
    assert.deepEqual(b.errors, []);
  });

  test('phone chats offer internal notes only and the server refuses a customer message (IN-7)', async () => {
    const p = await open();
    await login(p, server.base, ACCOUNTS.owner, { lang: 'en' });
    const cid = await demoChannelId(p);
    const phones = await apiFromPage(p, 'GET', `/api/v1/channels/${cid}/chats?medium=phone&limit=200`);
    const phoneChat = phones.json.chats[0];
    assert.ok(phoneChat, 'the demo has a phone chat');
    await p.evaluate((id) => (location.hash = `#/inbox/${id}`), phoneChat.id);
    await p.locator(`[data-testid=chat-view][data-chat-id="${phoneChat.id}"]`).waitFor();
    await p.locator('[data-testid=composer][data-mode=note]').waitFor();
    assert.ok(await p.getByTestId('mode-reply').isDisabled(), 'no customer-message mode in a phone chat');
    const notice = await p.getByTestId('phone-only-notice').innerText();
    assert.match(notice, /internal notes only/i);

    const r = await apiFromPage(p, 'POST', `/api/v1/channels/${cid}/chats/${phoneChat.id}/messages`, { body: 'hello' });
    assert.equal(r.status, 422, r.text);
    assert.equal(r.json?.code, 'phone_chat_internal_only');
    assert.ok(typeof r.json?.message === 'string' && r.json.message.length > 0, 'the 422 carries a reason');

    // A text chat does take customer messages.
    const texts = await apiFromPage(p, 'GET', `/api/v1/channels/${cid}/chats?medium=chat&limit=200`);
    const textChat = texts.json.chats[0];
    assert.ok(textChat, 'the demo has a text chat');
    await p.evaluate((id) => (location.hash = `#/inbox/${id}`), textChat.id);
    await p.locator(`[data-testid=chat-view][data-chat-id="${textChat.id}"]`).waitFor();
    assert.equal(await p.getByTestId('phone-only-notice').count(), 0);
    await p.getByTestId('mode-reply').click();
    await p.locator('[data-testid=composer][data-mode=reply]').waitFor();
    const msg = `E2E reply ${uniq()}`;
    await p.getByTestId('composer-input').fill(msg);
    await p.getByTestId('composer-submit').click();
    await p.locator('[data-testid=timeline-item][data-kind=message_sent]', { hasText: msg }).waitFor();
    assert.deepEqual(p.errors, []);
  });

  test('Japanese by default for a ja channel, English switch remembered across reloads', async () => {
    const p = await open({ locale: 'en-US' });
    await p.goto(`${server.base}/`);
    await p.getByRole('heading', { name: 'Sign in to Denwa' }).waitFor(); // browser language before any channel
    await p.locator('input[name=email]').fill(ACCOUNTS.owner);
    await p.locator('input[name=password]').fill((await import('./harness.mjs')).DEMO_PASSWORD);
    await p.locator('form button[type=submit]').click();
    const nav = p.getByRole('navigation');
    await nav.getByRole('link', { name: '受信箱' }).waitFor(); // demo channel locale is ja
    assert.equal(await p.evaluate(() => document.documentElement.lang), 'ja');
    await p.getByTestId('chat-row').first().click();
    await p.getByTestId('chat-view').waitFor();
    await p.getByRole('button', { name: 'メモを追加' }).waitFor();
    await shot(p, 'inbox-ja');
    await p.getByTestId('lang-switch').selectOption('en');
    await nav.getByRole('link', { name: 'Inbox' }).waitFor();
    await p.reload();
    await nav.getByRole('link', { name: 'Inbox' }).waitFor();
    await nav.getByRole('link', { name: 'Contacts' }).click();
    await p.getByRole('heading', { name: 'Contacts' }).waitFor();
    await p.getByTestId('lang-switch').selectOption('ja');
    await p.getByRole('heading', { name: '連絡先' }).waitFor();
    await p.reload();
    await p.getByRole('heading', { name: '連絡先' }).waitFor();
    assert.equal(await p.evaluate(() => localStorage.getItem('denwa.lang')), 'ja');
    assert.deepEqual(p.errors, []);
  });

  test('settings toggles persist across a reload', async () => {
    const p = await open();
    await login(p, server.base, ACCOUNTS.operator, { lang: 'en' });
    await p.evaluate(() => (location.hash = '#/settings'));
    const keys = ['unassigned_call_notification', 'do_not_disturb', 'auto_mute_on_join'];
    const before = {};
    for (const k of keys) {
      const sw = p.getByTestId(`setting-${k}`);
      before[k] = await sw.isChecked();
      await sw.click();
      await p.waitForFunction(
        ([k, v]) => {
          const el = document.querySelector(`[data-testid=setting-${k}]`);
          return el && el.checked === v && !el.disabled;
        },
        [k, !before[k]],
      );
    }
    await shot(p, 'settings');
    await p.reload();
    for (const k of keys) {
      await p.getByTestId(`setting-${k}`).waitFor();
      assert.equal(await p.getByTestId(`setting-${k}`).isChecked(), !before[k], `${k} persisted`);
    }
    const me = await apiFromPage(p, 'GET', '/api/v1/me');
    for (const k of keys) assert.equal(me.json.settings[k], !before[k], `${k} stored by the server`);
    assert.deepEqual(p.errors, []);
  });

  test('a softphone account is created in my settings and its password can be renewed', async () => {
    const p = await open();
    await login(p, server.base, ACCOUNTS.manager, { lang: 'en' });
    await p.evaluate(() => (location.hash = '#/settings'));
    const card = p.getByTestId('sip-account');
    await card.getByText('No softphone account yet.').waitFor();
    await p.getByTestId('sip-renew').click();
    await p.getByTestId('sip-username').waitFor();
    assert.equal(await p.getByTestId('sip-username').textContent(), 'suzuki');
    const first = await p.getByTestId('sip-password').textContent();
    assert.ok(first && first.length >= 16, `a generated password is shown: ${first}`);
    const stored = await apiFromPage(p, 'GET', '/api/v1/me/sip-account');
    assert.equal(stored.json.password, first, 'the page shows what the server stored');
    await p.getByTestId('sip-renew').click();
    await p.waitForFunction(
      (old) => {
        const el = document.querySelector('[data-testid=sip-password]');
        return el && el.textContent !== old && !el.textContent.includes('•');
      },
      first,
    );
    const renewed = await apiFromPage(p, 'GET', '/api/v1/me/sip-account');
    assert.notEqual(renewed.json.password, first);
    assert.equal(await p.getByTestId('sip-password').textContent(), renewed.json.password);
    await shot(p, 'settings-softphone');
    await p.reload();
    await p.getByTestId('sip-username').waitFor();
    assert.match(await p.getByTestId('sip-password').textContent(), /^•+$/, 'hidden until asked');
    assert.deepEqual(p.errors, []);
  });

  test('contacts: add a lead, find it by differently spelled numbers, edit it', async () => {
    const p = await open();
    await login(p, server.base, ACCOUNTS.owner, { lang: 'en' });
    await p.evaluate(() => (location.hash = '#/contacts'));
    await p.getByTestId('add-lead').click();
    const name = `E2E Lead ${uniq()}`;
    const digits = String(Math.floor(1000 + Math.random() * 8999));
    await p.getByTestId('customer-name-input').fill(name);
    await p.getByTestId('add-phone').click();
    await p.getByTestId('phone-input').fill(`06-6543-${digits}`);
    await p.getByTestId('customer-save').click();
    const page = p.getByTestId('customer-page');
    await page.waitFor();
    await p.getByRole('heading', { name }).waitFor();
    const id = await page.getAttribute('data-customer-id');

    await p.evaluate(() => (location.hash = '#/contacts'));
    for (const spelling of [`066543${digits}`, `+81 6 6543 ${digits}`, `(06) 6543-${digits}`, name, `09-9999-${digits}`]) {
      await searchContacts(p, spelling);
      const found = await p.locator(`[data-testid=contact-row][data-customer-id="${id}"]`).count();
      assert.equal(found, spelling.startsWith('09-') ? 0 : 1, `search "${spelling}"`);
    }
    await searchContacts(p, name);
    await shot(p, 'contacts');

    // Edit: rename, block, add a profile field.
    await p.locator(`[data-testid=contact-row][data-customer-id="${id}"]`).click();
    await page.waitFor();
    const renamed = `${name} 様`;
    await p.getByTestId('customer-name-input').fill(renamed);
    await p.getByTestId('customer-blocked-input').check();
    await p.getByRole('button', { name: '+ Add field' }).click();
    await p.getByRole('textbox', { name: 'Field' }).last().fill('plan');
    await p.getByRole('textbox', { name: 'Value' }).last().fill('gold');
    await p.getByTestId('customer-save').click();
    await p.getByTestId('customer-saved').waitFor();
    await p.reload();
    await p.getByRole('heading', { name: renamed }).waitFor();
    assert.ok(await p.getByTestId('customer-blocked-input').isChecked());
    assert.equal(await p.getByRole('textbox', { name: 'Value' }).last().inputValue(), 'gold');

    // Someone else saves while I have unsaved edits: my edits stay, and I am told.
    await p.getByTestId('customer-name-input').fill('my unsaved edit');
    const cid = await demoChannelId(p);
    const theirs = await apiFromPage(p, 'PATCH', `/api/v1/channels/${cid}/customers/${id}`, { name: 'Their name' });
    assert.equal(theirs.status, 200, theirs.text);
    await p.getByTestId('customer-changed-elsewhere').waitFor();
    assert.equal(await p.getByTestId('customer-name-input').inputValue(), 'my unsaved edit');
    await p.getByRole('button', { name: 'Load their version' }).click();
    await p.waitForFunction(() => document.querySelector('[data-testid=customer-name-input]')?.value === 'Their name');
    assert.deepEqual(p.errors, []);
  });

  test('contacts search finds a demo customer by any spelling of their number', async () => {
    const p = await open();
    await login(p, server.base, ACCOUNTS.owner, { lang: 'en' });
    const cid = await demoChannelId(p);
    const all = await apiFromPage(p, 'GET', `/api/v1/channels/${cid}/customers?limit=200`);
    const withPhone = all.json.find((c) => c.phones.length > 0 && c.phones[0].number.startsWith('+81'));
    assert.ok(withPhone, 'the demo has a customer with a Japanese number');
    const e164 = withPhone.phones[0].number; // +81XXXXXXXXX
    const national = `0${e164.slice(3)}`;
    await p.evaluate(() => (location.hash = '#/contacts'));
    for (const spelling of [national, withPhone.phones[0].display, e164]) {
      await searchContacts(p, spelling);
      assert.equal(await p.locator(`[data-testid=contact-row][data-customer-id="${withPhone.id}"]`).count(), 1, `search "${spelling}"`);
    }
    // The customer page lists their chats (chats?customer=).
    const chats = await apiFromPage(p, 'GET', `/api/v1/channels/${cid}/chats?customer=${withPhone.id}&limit=200`);
    await p.locator(`[data-testid=contact-row][data-customer-id="${withPhone.id}"]`).click();
    await p.getByTestId('customer-page').waitFor();
    if (chats.json.chats.length > 0) {
      await p.getByTestId('customer-chat').first().waitFor();
      assert.equal(await p.getByTestId('customer-chat').count(), chats.json.chats.length);
    } else {
      await p.getByText('No chats with this customer yet.').waitFor();
    }
  });
});
