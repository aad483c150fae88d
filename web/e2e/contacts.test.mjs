// End-to-end: the contact list (SPEC OUT-6, OUT-4) in the real console against the real server
// (see harness.mjs for env vars): a staff member imports their own contacts as a vCard, sees which
// contact joins a known customer and which becomes a lead, imports, and finds the new lead; a bad
// file is refused with the reason; a lead added with "+" is blocked and shown as blocked.
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
const digits4 = () => String(Math.floor(1000 + Math.random() * 8999));

describe('contacts', () => {
  test('import a vCard from my phone: a known number joins its customer, a new one becomes a lead', async () => {
    const p = await open();
    await login(p, server.base, ACCOUNTS.operator, { lang: 'en' });
    const cid = await demoChannelId(p);
    const all = await apiFromPage(p, 'GET', `/api/v1/channels/${cid}/customers?limit=200`);
    const yamada = all.json.find((c) => c.phones.some((ph) => ph.number === '+819011112222'));
    assert.ok(yamada, 'the demo has 山田 太郎 with 090-1111-2222');

    const name = `佐々木 美咲 ${uniq()}`;
    const digits = digits4();
    // As an iPhone exports: vCard 3.0, CRLF, a long line folded, several TELs.
    const vcf = [
      'BEGIN:VCARD', 'VERSION:3.0', 'N:山田;太郎;;;', 'FN:山田 太郎', 'TEL;type=CELL;type=VOICE;type=pref:090-1111-2222', 'END:VCARD',
      'BEGIN:VCARD', 'VERSION:3.0', `FN:${name.slice(0, 3)}`, ` ${name.slice(3)}`, `TEL;type=CELL:080-${digits}-5678`, `TEL;type=HOME:06-6543-${digits}`, 'END:VCARD',
      'BEGIN:VCARD', 'VERSION:3.0', 'FN:No number', 'EMAIL:nobody@example.com', 'END:VCARD',
      '',
    ].join('\r\n');

    await p.evaluate(() => (location.hash = '#/contacts'));
    await p.getByTestId('import-contacts').click();
    await p.getByTestId('import-file').setInputFiles({ name: 'contacts.vcf', mimeType: 'text/vcard', buffer: Buffer.from(vcf, 'utf8') });
    const preview = p.locator('[data-testid=import-preview][data-applied=no]');
    await preview.waitFor();
    const counts = p.getByTestId('import-counts');
    assert.deepEqual(
      await counts.evaluate((el) => [el.dataset.contacts, el.dataset.join, el.dataset.create, el.dataset.skip]),
      ['3', '1', '1', '1'],
    );
    const rows = p.getByTestId('import-row');
    assert.equal(await rows.count(), 3);
    // Known number: joins 山田 太郎, nothing new for them.
    const joinRow = rows.nth(0);
    assert.equal(await joinRow.getAttribute('data-action'), 'join');
    assert.equal(Number(await joinRow.getAttribute('data-customer-id')), yamada.id);
    assert.match(await joinRow.getByTestId('import-action').innerText(), /Joins 山田 太郎/);
    assert.equal(await joinRow.locator('[data-testid=import-number][data-known=yes]').getAttribute('data-number'), '+819011112222');
    // New numbers: a new lead with both, as E.164, the folded name joined.
    const createRow = rows.nth(1);
    assert.equal(await createRow.getAttribute('data-action'), 'create');
    assert.match(await createRow.innerText(), new RegExp(name));
    const numbers = await createRow.getByTestId('import-number').evaluateAll((els) => els.map((e) => e.dataset.number));
    assert.deepEqual(numbers, [`+8180${digits}5678`, `+8166543${digits}`]);
    assert.match(await createRow.getByTestId('import-action').innerText(), /New lead/);
    // No number: skipped, and said why.
    assert.equal(await rows.nth(2).getAttribute('data-action'), 'skip');
    assert.match(await rows.nth(2).innerText(), /No phone number/);
    // The preview changed nothing.
    const found = await apiFromPage(p, 'GET', `/api/v1/channels/${cid}/customers?q=${encodeURIComponent(`06-6543-${digits}`)}`);
    assert.deepEqual(found.json, []);
    await shot(p, 'contacts-import-preview');

    await p.getByTestId('import-apply').click();
    await p.getByTestId('import-result').waitFor();
    const created = p.locator('[data-testid=import-preview][data-applied=yes] [data-testid=import-row][data-action=create]');
    const newId = Number(await created.getAttribute('data-customer-id'));
    assert.ok(newId > 0, 'the applied plan names the new lead');
    assert.match(await created.getByTestId('import-action').innerText(), /New lead created/);
    await shot(p, 'contacts-import-done');
    await p.getByTestId('import-close').click();

    // The list refreshed by itself: the new lead is there, with its numbers.
    const row = p.locator(`[data-testid=contact-row][data-customer-id="${newId}"]`);
    await row.waitFor();
    assert.match(await row.innerText(), new RegExp(`${name}[\\s\\S]*Lead[\\s\\S]*080-${digits}-5678, 06-6543-${digits}`));
    await searchContacts(p, `06 6543 ${digits}`);
    assert.equal(await row.count(), 1, 'found by another spelling of its number');
    // 山田 太郎 is still one customer with their one number.
    const y = await apiFromPage(p, 'GET', `/api/v1/channels/${cid}/customers/${yamada.id}`);
    assert.deepEqual(y.json.phones.map((ph) => ph.number), yamada.phones.map((ph) => ph.number));
    assert.equal(y.json.name, '山田 太郎');
    assert.deepEqual(p.errors, []);
  });

  test('a file that is not a contact list is refused with the reason (Japanese console)', async () => {
    const p = await open({ locale: 'ja-JP' });
    await login(p, server.base, ACCOUNTS.manager, { lang: 'ja' });
    await p.evaluate(() => (location.hash = '#/contacts'));
    await p.getByTestId('import-contacts').click();
    await p.getByTestId('import-file').setInputFiles({ name: '顧客.csv', mimeType: 'text/csv', buffer: Buffer.from('名前,会員番号\n山田,123\n', 'utf8') });
    const err = p.locator('[data-testid=import-error][data-code=invalid_contacts_file]');
    await err.waitFor();
    const text = await err.innerText();
    assert.match(text, /連絡先としてインポートできません/);
    assert.match(text, /no phone number column/);
    assert.match(text, /名前, 会員番号/, 'says which headers it saw');
    assert.equal(await p.getByTestId('import-apply').count(), 0, 'nothing to apply');

    // A good CSV then previews, saying which columns it used.
    const digits = digits4();
    const csv = `名前,電話番号,メモ\n田中 一郎,03-9876-${digits},VIP\n`;
    await p.getByTestId('import-file').setInputFiles({ name: '顧客.csv', mimeType: 'text/csv', buffer: Buffer.from(csv, 'utf8') });
    await p.locator('[data-testid=import-preview][data-applied=no]').waitFor();
    assert.equal(await p.getByTestId('import-error').count(), 0, 'the old error is gone');
    assert.match(await p.getByTestId('import-columns').innerText(), /使用した列: 名前 \(名前\), 電話番号 \(電話番号\).*使用しない列: メモ/);
    assert.match(await p.getByTestId('import-row').first().innerText(), /新しいリード/);
    await p.getByTestId('import-cancel').click();
    assert.equal(await p.getByTestId('contact-import').count(), 0);
    const cid = await demoChannelId(p);
    const found = await apiFromPage(p, 'GET', `/api/v1/channels/${cid}/customers?q=${encodeURIComponent(`03-9876-${digits}`)}`);
    assert.deepEqual(found.json, [], 'cancelled: nothing imported');
    assert.deepEqual(p.errors, []);
  });

  test('add a lead with "+", block it and see it marked blocked; unblock it', async () => {
    const p = await open();
    await login(p, server.base, ACCOUNTS.operator, { lang: 'en' });
    await p.evaluate(() => (location.hash = '#/contacts'));
    await p.getByTestId('add-lead').click();
    const name = `Blocked Lead ${uniq()}`;
    await p.getByTestId('customer-name-input').fill(name);
    await p.getByTestId('add-phone').click();
    await p.getByTestId('phone-input').fill(`045-123-${digits4()}`);
    await p.getByTestId('customer-save').click();
    const page = p.getByTestId('customer-page');
    await page.waitFor();
    await p.getByRole('heading', { name }).waitFor();
    const id = await page.getAttribute('data-customer-id');
    assert.equal(await p.getByTestId('customer-blocked').count(), 0);

    const toggle = p.getByTestId('customer-block-toggle');
    assert.equal(await toggle.innerText(), 'Block');
    await toggle.click();
    await p.locator('[data-testid=customer-block-toggle][data-blocked=yes]').waitFor();
    await p.getByTestId('customer-blocked').waitFor();
    assert.equal(await toggle.innerText(), 'Unblock');
    assert.ok(await p.getByTestId('customer-blocked-input').isChecked(), 'the form shows it too');

    await p.evaluate(() => (location.hash = '#/contacts'));
    await searchContacts(p, name);
    const row = p.locator(`[data-testid=contact-row][data-customer-id="${id}"]`);
    assert.equal(await row.getAttribute('data-blocked'), 'yes');
    assert.equal(await row.getByTestId('contact-blocked').innerText(), 'Blocked');
    await shot(p, 'contacts-blocked');

    // Unblock from the customer page: the mark goes away in the list.
    await row.click();
    await p.locator('[data-testid=customer-block-toggle][data-blocked=yes]').click();
    await p.locator('[data-testid=customer-block-toggle][data-blocked=no]').waitFor();
    assert.equal(await p.getByTestId('customer-blocked').count(), 0);
    await p.evaluate(() => (location.hash = '#/contacts'));
    await searchContacts(p, name);
    assert.equal(await row.getAttribute('data-blocked'), 'no');
    assert.equal(await row.getByTestId('contact-blocked').count(), 0);
    assert.deepEqual(p.errors, []);
  });
});
