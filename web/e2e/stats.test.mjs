// Statistics end to end (issue 9): a manager opens the dashboard on the demo channel; a real
// customer call (SIPp) rings the console and the caller hangs up — the dashboard's numbers move
// without a reload. The manager downloads the raw data as CSV and as Excel, creates an API key
// in the channel settings, and a real OData client from PyPI (python-odata, the venv
// scripts/test.sh makes; DENWA_ODATA_PYTHON) reads the call through the feed with that key.
// Revoking the key shuts the feed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ACCOUNTS, WEB, apiFromPage, freeUdpBlock, launchBrowser, login, newPage, shot, startServer } from './harness.mjs';

const PEERS = path.resolve(WEB, '../tests/peers');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function odataPython() {
  const py = process.env.DENWA_ODATA_PYTHON;
  if (!py || !fs.existsSync(py)) {
    throw new Error('DENWA_ODATA_PYTHON must name a python with python-odata (scripts/test.sh makes it: python3 -m venv V && V/bin/pip install python-odata==0.8.1)');
  }
  return py;
}

const card = (page, label) => page.locator(`[data-testid="card-${label}"]`);
const cardNumber = async (page, label) => Number(await card(page, label).innerText());

test('a manager sees live numbers, downloads the raw data and connects a BI client with a key made in settings', { timeout: 180_000 }, async () => {
  const python = odataPython();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'denwa-stats-'));
  const ports = freeUdpBlock(32);
  const server = await startServer({ extraArgs: ['--sip', `127.0.0.1:${ports}`, '--rtp-ports', `${ports + 2}-${ports + 21}`] });
  const browser = await launchBrowser();
  try {
    const { page } = await newPage(browser);
    await login(page, server.base, ACCOUNTS.manager);
    await page.locator('a[href="#/stats"]').click();
    await card(page, 'total').waitFor();
    const before = { total: await cardNumber(page, 'total'), missed: await cardNumber(page, 'missed') };

    // A customer nobody knows calls the demo number; it rings this console, then they hang up.
    const runDir = path.join(work, 'sipp');
    fs.mkdirSync(runDir);
    const sippLog = path.join(work, 'sipp.log');
    const sipp = spawn('bash', [path.join(PEERS, 'sipp/sipp_caller.sh')], {
      env: {
        ...process.env,
        RUN_DIR: runDir,
        SUT_PORT: String(ports),
        CALLER_SIP_PORT: String(ports + 24),
        CALLER_RTP_PORT: String(ports + 26),
        SERVICE: '05012345678',
        CALLER: '09077778888',
        SCENARIO: 'cancel',
        CANCEL_MS: '3000',
      },
      stdio: ['ignore', fs.openSync(sippLog, 'w'), 'inherit'],
    });
    const sippDone = new Promise((resolve) => sipp.on('exit', (code) => resolve(code)));
    await page.locator('[data-testid=incoming-call]').waitFor({ timeout: 20_000 });
    const code = await Promise.race([sippDone, sleep(30_000).then(() => 'timeout')]);
    assert.equal(code, 0, `SIPp caller: ${fs.readFileSync(sippLog, 'utf8').slice(-3000)}`);
    await page.locator('[data-testid=incoming-call]').waitFor({ state: 'detached', timeout: 10_000 });

    // Live: the dashboard moves without a reload (ST-1): one more call, one more missed (userLeft).
    await page.waitForFunction(
      (n) => Number(document.querySelector('[data-testid="card-total"]')?.textContent) === n,
      before.total + 1,
      { timeout: 15_000 },
    );
    assert.equal(await cardNumber(page, 'missed'), before.missed + 1);
    assert.match(await page.locator('[data-testid=missed-by-reason]').innerText(), /userLeft 1\b/);
    await shot(page, 'stats-dashboard');

    // Raw data (ST-2): the CSV has the export's columns and the call, the Excel file is an XLSX.
    const [csvDl] = await Promise.all([page.waitForEvent('download'), page.locator('[data-testid=download-csv]').click()]);
    const csv = fs.readFileSync(await csvDl.path(), 'utf8').replace(/^\uFEFF/, '');
    const [head, ...rows] = csv.trim().split(/\r?\n/);
    const cols = head.split(',');
    for (const c of ['call_id', 'chat_id', 'direction', 'customer_number', 'ringing_seconds', 'talk_seconds', 'missed_reason', 'recording']) {
      assert.ok(cols.includes(c), `${c} missing from ${head}`);
    }
    const ours = rows.filter((r) => r.includes('userLeft'));
    assert.equal(ours.length, 1, csv);
    assert.match(ours[0], /7777.?8888/);
    const [xlsxDl] = await Promise.all([page.waitForEvent('download'), page.locator('[data-testid=download-xlsx]').click()]);
    const xlsx = fs.readFileSync(await xlsxDl.path());
    assert.equal(xlsx.subarray(0, 2).toString('latin1'), 'PK', 'the Excel download is a zip (XLSX)');
    assert.match(xlsxDl.suggestedFilename(), /\.xlsx$/);

    // An API key made in the channel settings (ST-5): the secret is shown once.
    await page.locator('a[href="#/settings"]').click();
    await page.locator('[data-testid=api-key-name]').fill('Power BI');
    await page.locator('[data-testid=api-key-create]').click();
    const key = await page.locator('[data-testid=api-key-access]').innerText();
    const secret = await page.locator('[data-testid=api-key-secret]').innerText();
    const feed = await page.locator('[data-testid=odata-url]').innerText();
    assert.equal(feed, `${server.base}/open/v1/odata/`);
    await page.locator('[data-testid=api-key-list] tr', { hasText: 'Power BI' }).waitFor();
    await shot(page, 'settings-api-key');

    // A real OData client from PyPI reads the call with that key (ST-6).
    const day = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    const out = execFileSync(python, [path.join(WEB, '../crates/server/tests/bi/odata_client.py'), feed, key, secret, `${day}T00:00:00+00:00`, new Date(Date.now() + 86_400_000).toISOString()], { encoding: 'utf8', timeout: 60_000 });
    const read = JSON.parse(out);
    assert.equal(read.count, before.total + 1, out);
    assert.ok(read.properties.includes('MissedReason'), out);

    // Revoked in settings, the key no longer opens the feed.
    page.once('dialog', (d) => d.accept());
    await page.locator('[data-testid=api-key-list] tr', { hasText: 'Power BI' }).locator('[data-testid=api-key-revoke]').click();
    await page.locator('[data-testid=api-key-list] tr', { hasText: 'Power BI' }).waitFor({ state: 'detached' });
    const r = await fetch(`${feed}Calls`, { headers: { authorization: `Basic ${Buffer.from(`${key}:${secret}`).toString('base64')}` } });
    assert.equal(r.status, 401);
    const keys = await apiFromPage(page, 'GET', '/api/v1/channels/1/api-keys');
    assert.deepEqual(keys.json, []);
    assert.deepEqual(page.errors, []);
  } finally {
    await browser.close();
    await server.stop();
  }
});
