// An inbound call end to end (issue 6): a SIPp customer calls the demo number playing speech;
// two staff consoles in headless Chromium, each with a fake microphone saying its own espeak-ng
// phrase, are rung with the caller's profile fields. Sato answers over WebRTC; both sides must
// receive the other's speech (the audio is compared, not packet counts). Sato's dialpad digit
// reaches SIPp as RFC 4733. Sato invites Suzuki, who joins; on hold the customer hears music
// while the two staff still hear each other; Sato leaves, the call goes on; Suzuki ends it for
// everyone and SIPp receives the BYE. The chat's timeline tells the whole story. The hold
// music is the channel's own, uploaded in the settings first: the customer must hear it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ACCOUNTS, PEERS, apiFromPage, freeUdpBlock, launchBrowser, login, newPage, phrase, recordCallAudio, shot, startServer, wavcmp } from './harness.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => console.error(`[calls ${new Date().toISOString().slice(11, 23)}]`, ...a);

test('a customer call rings the console with profile fields, is answered over WebRTC, and every in-call control works', { timeout: 240_000 }, async () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'denwa-calls-'));
  const satoSays = phrase('Thank you for calling Denwa support. My name is Sato. How can I help you today?', path.join(work, 'sato.wav'));
  const suzukiSays = phrase('Hello, this is Suzuki from billing. I can see your invoice from last month.', path.join(work, 'suzuki.wav'));
  const ports = freeUdpBlock(64);
  const sipPort = ports;
  const server = await startServer({
    extraArgs: ['--sip', `127.0.0.1:${sipPort}`, '--rtp-ports', `${ports + 2}-${ports + 41}`, '--record-calls'],
  });
  const browserA = await launchBrowser({ fakeMic: satoSays });
  const browserB = await launchBrowser({ fakeMic: suzukiSays });
  let sipp = null;
  try {
    const a = await newPage(browserA);
    const b = await newPage(browserB);
    await login(a.page, server.base, ACCOUNTS.owner);
    await login(b.page, server.base, ACCOUNTS.manager);

    // The owner uploads the channel's hold music in the settings (a spoken phrase, so the
    // customer's recording can be checked for it).
    const holdMusic = phrase('Please stay on the line. Your call is important to us.', path.join(work, 'hold.wav'));
    await a.page.locator('a[href="#/settings"]').click();
    await a.page.locator('[data-testid=audio-hold-music-file]').setInputFiles(holdMusic);
    await a.page.locator('[data-testid=audio-hold-music][data-present=yes]').waitFor();
    await a.page.locator('a[href="#/inbox"]').click();

    // The customer 山田 太郎 (090-1111-2222) calls 050-1234-5678, plays speech + DTMF, then waits
    // for our BYE while recording what it hears.
    const runDir = path.join(work, 'sipp');
    fs.mkdirSync(runDir);
    const sippLog = fs.openSync(path.join(work, 'sipp.log'), 'w');
    sipp = spawn('bash', [path.join(PEERS, 'sipp/sipp_caller.sh')], {
      env: {
        ...process.env,
        RUN_DIR: runDir,
        SUT_PORT: String(sipPort),
        CALLER_SIP_PORT: String(ports + 50),
        CALLER_RTP_PORT: String(ports + 52),
        SERVICE: '05012345678',
        CALLER: '09011112222',
        SCENARIO: 'waitbye',
        WAIT_BYE_MS: '120000',
        REC: '1',
      },
      stdio: ['ignore', sippLog, sippLog],
    });
    const sippDone = new Promise((resolve) => sipp.on('exit', (code) => resolve(code)));

    // Both consoles ring with the caller and the channel's profile fields (SPEC IN-2).
    for (const { page } of [a, b]) {
      const ring = page.locator('[data-testid=incoming-call]');
      await ring.waitFor({ timeout: 20_000 });
      const text = await ring.innerText();
      assert.match(text, /山田 太郎/);
      assert.match(text, /090-1111-2222/);
      assert.match(text, /山田商事/);
      assert.match(text, /プロ/);
    }
    await shot(a.page, 'call-ringing');
    await a.page.locator('[data-testid=accept-call]').click();
    await a.page.locator('[data-testid=ring-box][data-state=joined]').waitFor({ timeout: 15_000 });
    // Suzuki's ring stops once Sato answered.
    await b.page.locator('[data-testid=incoming-call]').waitFor({ state: 'detached', timeout: 10_000 });
    const callId = Number(await a.page.locator('[data-testid=ring-box]').getAttribute('data-call-id'));
    log('answered call', callId);

    // Sato hears the customer's speech.
    const satoHeard = await recordCallAudio(a.page, 9000, path.join(work, 'sato-heard.wav'));
    const heardCustomer = wavcmp(path.join(PEERS, 'media/speech_8k.wav'), satoHeard);
    assert.ok(heardCustomer.ok, `Sato did not hear the customer: ${heardCustomer.out}`);

    // Dialpad: RFC 4733 to the customer.
    await a.page.locator('[data-testid=dtmf-5]').click();
    await a.page.locator('[data-testid="dtmf-#"]').click();
    await sleep(800);

    // Invite Suzuki, who is rung and joins (SPEC RG-3).
    const suzukiId = (await apiFromPage(b.page, 'GET', '/api/v1/me')).json.staff.id;
    await a.page.locator('[data-testid=invitee]').selectOption(String(suzukiId));
    await a.page.locator('[data-testid=invite]').click();
    await b.page.locator('[data-testid=incoming-call]').waitFor({ timeout: 10_000 });
    assert.match(await b.page.locator('[data-testid=incoming-call]').innerText(), /Sato|佐藤/);
    await b.page.locator('[data-testid=accept-call]').click();
    await b.page.locator('[data-testid=ring-box][data-state=joined]').waitFor({ timeout: 15_000 });
    await a.page.locator(`[data-testid=participants] li[data-staff-id="${suzukiId}"]`).waitFor();

    // Hold: the badge shows for both; staff still hear each other (HD-1, HD-2, HD-4).
    await a.page.locator('[data-testid=hold]').click();
    await a.page.locator('[data-testid=hold-badge]').waitFor();
    await b.page.locator('[data-testid=hold-badge]').waitFor();
    const suzukiHeard = await recordCallAudio(b.page, 7000, path.join(work, 'suzuki-heard-on-hold.wav'));
    const heardSato = wavcmp(satoSays, suzukiHeard);
    assert.ok(heardSato.ok, `Suzuki did not hear Sato during the hold: ${heardSato.out}`);
    await a.page.locator('[data-testid=resume]').click();
    await a.page.locator('[data-testid=hold-badge]').waitFor({ state: 'detached' });

    // Sato leaves; the call goes on with Suzuki (RG-6).
    await a.page.locator('[data-testid=leave]').click();
    await a.page.locator('[data-testid=ring-box]').waitFor({ state: 'detached', timeout: 10_000 });
    await sleep(1500);
    assert.equal(await b.page.locator('[data-testid=ring-box][data-state=joined]').count(), 1);

    // Suzuki ends it for everyone: SIPp gets our BYE and finishes successfully (RG-7).
    await b.page.locator('[data-testid=end-call]').click();
    const code = await Promise.race([sippDone, sleep(30_000).then(() => 'timeout')]);
    assert.equal(code, 0, `SIPp customer: ${fs.readFileSync(path.join(work, 'sipp.log'), 'utf8').slice(-3000)}`);
    sipp = null;

    // The customer heard Sato, hold music, and the digits as RFC 4733 events.
    const rx = path.join(runDir, 'rx.wav');
    const heardStaff = wavcmp(satoSays, rx);
    assert.ok(heardStaff.ok, `the customer did not hear Sato: ${heardStaff.out}`);
    // The hold comes late in the call: search the whole recording for it.
    const heardMusic = wavcmp(holdMusic, rx, ['--max-lag-s', '60']);
    assert.ok(heardMusic.ok, `the customer on hold did not hear the channel's hold music: ${heardMusic.out}`);
    const rxJson = JSON.parse(fs.readFileSync(path.join(runDir, 'rx.json'), 'utf8'));
    const digits = JSON.stringify(rxJson);
    assert.match(digits, /"5"/, `no digit 5 at the customer: ${digits.slice(0, 500)}`);

    // The chat's timeline tells the story.
    const calls = await apiFromPage(a.page, 'GET', `/api/v1/channels/1/calls/${callId}`);
    assert.equal(calls.status, 200, calls.text);
    assert.equal(calls.json.call.outcome, 'answered');
    assert.ok(calls.json.call.hold_ms > 0, JSON.stringify(calls.json.call));
    const chat = await apiFromPage(a.page, 'GET', `/api/v1/channels/1/chats/${calls.json.call.chat_id}`);
    const kinds = chat.json.timeline.map((e) => e.kind);
    for (const k of ['call_started', 'call_ringing', 'call_answered', 'call_participant_joined', 'call_invited', 'call_held', 'call_resumed', 'call_participant_left', 'call_ended']) {
      assert.ok(kinds.includes(k), `${k} missing from ${kinds.join(', ')}`);
    }
    const ended = chat.json.timeline.find((e) => e.kind === 'call_ended');
    assert.equal(ended.data.ended_by, 'staff');
    assert.equal(ended.data.ended_by_staff_id, suzukiId);
    assert.deepEqual(a.page.errors, []);
    assert.deepEqual(b.page.errors, []);
  } finally {
    if (sipp) sipp.kill('SIGKILL');
    await browserA.close();
    await browserB.close();
    await server.stop();
  }
});
