// Calling customers from the console end to end (issue 7): Sato, in headless Chromium with a
// fake microphone saying an espeak-ng phrase, calls numbers through the demo channel's trunk.
// SIPp plays the carrier: for the answered call it demands digest, answers, talks and records
// (sipp_callee.sh checks the RFC 4733 digits it receives); other SIPp callees refuse with 486
// (busy) or 603 (declined), ring until the server gives up with CANCEL (no answer), or
// play an announcement as early media (183 with SDP) before refusing. A
// blocked customer's number needs a confirmation; a call from a chat opens a new chat of the
// same customer; staff without an operator seat cannot call out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ACCOUNTS, PEERS, apiFromPage, demoChannelId, freeUdpBlock, launchBrowser, login, newPage, phrase, recordCallAudio, shot, startServer, wavcmp } from './harness.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => console.error(`[outbound ${new Date().toISOString().slice(11, 23)}]`, ...a);

/** A SIPp process; `done` resolves with its exit code, `output` is its log so far. */
function sipp(cmd, args, env, logFile) {
  const fd = fs.openSync(logFile, 'w');
  const p = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', fd, fd] });
  const done = new Promise((resolve) => p.on('exit', (code) => resolve(code)));
  return { p, done, output: () => fs.readFileSync(logFile, 'utf8').slice(-3000) };
}

/** A SIPp callee on the carrier's port running one of our UAS scenarios once; `vars` fill
 * the `@NAME@` placeholders of a `.xml.in` scenario. */
function scenarioCallee(work, name, port, vars = null) {
  const dir = fs.mkdtempSync(path.join(work, `${name}-`));
  let scenario = path.join(PEERS, 'sipp', `${name}.xml`);
  if (vars) {
    let text = fs.readFileSync(`${scenario}.in`, 'utf8');
    for (const [k, v] of Object.entries(vars)) text = text.replaceAll(`@${k}@`, v);
    scenario = path.join(dir, `${name}.xml`);
    fs.writeFileSync(scenario, text);
  }
  const args = ['-sf', scenario, '-i', '127.0.0.1', '-p', String(port), '-bind_local', '-m', '1', '-nostdin', '-timeout', '60s', '-trace_err', '-error_file', path.join(dir, 'errors.log')];
  return sipp('sipp', args, {}, path.join(dir, 'sipp.log'));
}

async function finished(s, what) {
  const code = await Promise.race([s.done, sleep(40_000).then(() => 'timeout')]);
  assert.equal(code, 0, `${what}: ${s.output()}`);
}

/** Opens the dialer (or uses the open one), types `number`, waits for the lookup, calls. */
async function dial(page, number, who) {
  if ((await page.getByTestId('dialer').count()) === 0) await page.getByTestId('open-dialer').click();
  await page.getByTestId('dial-number').fill(number);
  await page.locator('[data-testid=dial-who]', { hasText: who }).waitFor();
  await page.getByTestId('dial-call').click();
}

/** The chat the console moved to after placing a call (SPEC OUT-3). */
async function chatInView(page, not = null) {
  for (let i = 0; i < 100; i++) {
    const m = /#\/inbox\/(\d+)/.exec(await page.evaluate(() => location.hash));
    if (m && Number(m[1]) !== not) return Number(m[1]);
    await sleep(100);
  }
  throw new Error('the console did not open the call\'s chat');
}

async function callOf(page, cid, chat) {
  const r = await apiFromPage(page, 'GET', `/api/v1/channels/${cid}/chats/${chat}/calls`);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.length, 1, r.text);
  return r.json[0];
}

/** Waits until the call of `chat` has ended and answers it. */
async function endedCallOf(page, cid, chat) {
  for (let i = 0; i < 100; i++) {
    const c = await callOf(page, cid, chat);
    if (c.ended_at) return c;
    await sleep(200);
  }
  throw new Error(`the call of chat ${chat} did not end`);
}

test('staff call out from the console: answered with two-way speech and digits, busy, declined from a chat, no answer, a blocked number, no seat', { timeout: 360_000 }, async () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'denwa-outbound-'));
  const satoSays = phrase('Hello, this is Sato from Denwa support, returning your call about the refund.', path.join(work, 'sato.wav'));
  const ports = freeUdpBlock(64);
  const carrier = ports + 50;
  const server = await startServer({
    extraArgs: ['--sip', `127.0.0.1:${ports}`, '--rtp-ports', `${ports + 2}-${ports + 41}`, '--ring-timeout', '6'],
  });
  const browser = await launchBrowser({ fakeMic: satoSays });
  const running = [];
  try {
    const { page } = await newPage(browser);
    await login(page, server.base, ACCOUNTS.owner, { lang: 'en' });
    const cid = await demoChannelId(page);
    const trunk = await apiFromPage(page, 'POST', `/api/v1/channels/${cid}/trunks`, {
      name: 'carrier',
      allowed_sources: ['127.0.0.1'],
      outbound_proxy: `127.0.0.1:${carrier}`,
      outbound_username: 'denwa-out',
      outbound_password: 'carrier-secret-7',
      caller_id: '+815012345678',
    });
    assert.equal(trunk.status, 201, trunk.text);

    // --- Answered: digest, two-way speech, dialpad digits to the callee's IVR.
    const runDir = path.join(work, 'callee');
    fs.mkdirSync(runDir);
    const callee = sipp('bash', [path.join(PEERS, 'sipp/sipp_callee.sh')], {
      RUN_DIR: runDir,
      CALLEE_SIP_PORT: String(carrier),
      CALLEE_RTP_PORT: String(ports + 52),
      SIPP_MEDIA_PORT: String(ports + 54),
      MODE: 'record',
      PLAY: path.join(PEERS, 'media/speech.ulaw'),
      AUTH_USER: 'denwa-out',
      AUTH_PASS: 'carrier-secret-7',
      EXPECT_DIGITS: '12#',
      RING_MS: '1500',
      CALLS: '1',
    }, path.join(work, 'callee.log'));
    running.push(callee);
    for (let i = 0; i < 100 && !fs.existsSync(path.join(runDir, 'ready')); i++) await sleep(100);
    // SPEC OUT-2: an unknown number is shown as a new lead while typing.
    await dial(page, '090-1234-5678', '090-1234-5678 · new lead');
    await page.locator('[data-testid=ring-box][data-state=joined]').waitFor({ timeout: 20_000 });
    const chat1 = await chatInView(page);
    log('answered; chat', chat1);
    await shot(page, 'outbound-answered');
    const heard = await recordCallAudio(page, 9000, path.join(work, 'sato-heard.wav'));
    const heardCallee = wavcmp(path.join(PEERS, 'media/speech_8k.wav'), heard);
    assert.ok(heardCallee.ok, `Sato did not hear the callee: ${heardCallee.out}`);
    for (const k of ['1', '2', '#']) {
      await page.locator(`[data-testid="dtmf-${k}"]`).click();
      await sleep(300);
    }
    await sleep(800);
    // In-call controls work as for an inbound call (issue 7 item 3): hold with the badge,
    // resume, mute and unmute. They come after Sato's phrase has reached the callee whole.
    await page.locator('[data-testid=hold]').click();
    await page.locator('[data-testid=hold-badge]').waitFor();
    await sleep(1500);
    await page.locator('[data-testid=resume]').click();
    await page.locator('[data-testid=hold-badge]').waitFor({ state: 'detached' });
    await page.locator('[data-testid=mute]').click();
    await page.locator('[data-testid=mute][aria-pressed=true]').waitFor();
    await page.locator('[data-testid=mute]').click();
    await page.locator('[data-testid=mute][aria-pressed=false]').waitFor();
    await page.getByTestId('end-call').click();
    await finished(callee, 'SIPp callee (answered call)');
    const heardSato = wavcmp(satoSays, path.join(runDir, 'rx.wav'));
    assert.ok(heardSato.ok, `the callee did not hear Sato: ${heardSato.out}`);
    const messages = fs.readFileSync(path.join(runDir, 'messages.log'), 'utf8');
    assert.match(messages, /INVITE sip:\+819012345678@127\.0\.0\.1/);
    assert.match(messages, /Authorization: Digest username="denwa-out"/);
    assert.match(messages, /From: <sip:\+815012345678@/);
    const answered = await endedCallOf(page, cid, chat1);
    assert.equal(answered.direction, 'outbound');
    assert.equal(answered.outcome, 'answered');
    assert.equal(answered.customer_number, '+819012345678');
    assert.ok(answered.answered_at, JSON.stringify(answered));
    const chat = await apiFromPage(page, 'GET', `/api/v1/channels/${cid}/chats/${chat1}`);
    const kinds = chat.json.timeline.map((e) => e.kind);
    for (const k of ['call_started', 'call_ringing', 'call_answered', 'call_participant_joined', 'call_held', 'call_resumed', 'call_mute_changed', 'call_ended']) {
      assert.ok(kinds.includes(k), `${k} missing from ${kinds.join(', ')}`);
    }
    assert.ok(answered.hold_ms > 0, `the hold is counted: ${JSON.stringify(answered)}`);
    assert.equal(chat.json.customer.kind, 'lead', 'an unknown number becomes a lead');
    await page.getByTestId('ring-box').waitFor({ state: 'detached' });

    // --- Busy (486).
    let s = scenarioCallee(work, 'uas_refuse', carrier, { STATUS: '486', REASON: 'Busy Here' });
    running.push(s);
    await sleep(300);
    await dial(page, '090-2222-3333', 'new lead');
    await page.locator('[data-testid=call-outcome][data-outcome=busy]').waitFor({ timeout: 15_000 });
    await finished(s, 'SIPp busy callee');
    const chatBusy = await chatInView(page, chat1);
    const busy = await endedCallOf(page, cid, chatBusy);
    assert.equal(busy.outcome, 'busy');
    assert.match(await page.getByTestId('timeline').innerText(), /Not connected: The line is busy \(SIP 486\)/);

    // --- Declined (603), placed with the chat's call button: a new chat of the same customer.
    s = scenarioCallee(work, 'uas_refuse', carrier, { STATUS: '603', REASON: 'Decline' });
    running.push(s);
    await sleep(300);
    await page.getByTestId('chat-call').click();
    assert.equal(await page.getByTestId('dial-number').inputValue(), '+819022223333');
    await page.locator('[data-testid=dial-who]', { hasText: '090-2222-3333' }).waitFor();
    await page.getByTestId('dial-call').click();
    await page.locator('[data-testid=call-outcome][data-outcome=declined]').waitFor({ timeout: 15_000 });
    await finished(s, 'SIPp declining callee');
    const chatDeclined = await chatInView(page, chatBusy);
    const declined = await endedCallOf(page, cid, chatDeclined);
    assert.equal(declined.outcome, 'declined');
    assert.equal(declined.customer_id, busy.customer_id, 'the new chat is in the same customer\'s history');

    // --- No answer: the server gives up after --ring-timeout with CANCEL.
    s = scenarioCallee(work, 'uas_no_answer', carrier);
    running.push(s);
    await sleep(300);
    await dial(page, '090-4444-5555', 'new lead');
    await page.locator('[data-testid=ring-box][data-state=dialing]').waitFor({ timeout: 10_000 });
    await page.locator('[data-testid=dialing]', { hasText: 'Ringing' }).waitFor({ timeout: 10_000 });
    await page.locator('[data-testid=call-outcome][data-outcome=no_answer]').waitFor({ timeout: 20_000 });
    await finished(s, 'SIPp callee that never answers');
    const chatNoAnswer = await chatInView(page, chatDeclined);
    assert.equal((await endedCallOf(page, cid, chatNoAnswer)).outcome, 'no_answer');

    // --- Recent calls in the dialer: the latest first, a click fills its number.
    await page.getByTestId('open-dialer').click();
    const latest = page.locator('[data-testid=recent-call]').first();
    await latest.waitFor();
    assert.equal(await latest.getAttribute('data-number'), '+819044445555');
    const numbers = await page.locator('[data-testid=recent-call]').evaluateAll((els) => els.map((e) => e.dataset.number));
    assert.deepEqual(numbers.slice(0, 4), ['+819044445555', '+819022223333', '+819022223333', '+819012345678']);
    await latest.click();
    assert.equal(await page.getByTestId('dial-number').inputValue(), '+819044445555');
    await page.locator('[data-testid=dial-who]', { hasText: '090-4444-5555' }).waitFor();

    // --- A blocked customer's number warns and asks for confirmation (SPEC OUT-4).
    const blocked = await apiFromPage(page, 'POST', `/api/v1/channels/${cid}/customers`, {
      name: 'Kuroda Blocked',
      kind: 'member',
      blocked: true,
      phones: [{ number: '090-6666-7777' }],
    });
    assert.equal(blocked.status, 201, blocked.text);
    const refused = await apiFromPage(page, 'POST', `/api/v1/channels/${cid}/calls`, { to: '09066667777', sdp: 'v=0' });
    assert.equal(refused.status, 409, refused.text);
    assert.equal(refused.json.code, 'blocked_number');
    s = scenarioCallee(work, 'uas_refuse', carrier, { STATUS: '486', REASON: 'Busy Here' });
    running.push(s);
    await sleep(300);
    await dial(page, '090-6666-7777', 'Kuroda Blocked');
    await page.getByTestId('dial-blocked').waitFor();
    await page.getByTestId('blocked-confirm').waitFor();
    await shot(page, 'outbound-blocked-confirm');
    await page.getByTestId('confirm-blocked').click();
    await page.locator('[data-testid=call-outcome][data-outcome=busy]').waitFor({ timeout: 15_000 });
    await finished(s, 'SIPp callee of the blocked number');
    const chatBlocked = await chatInView(page, chatNoAnswer);
    assert.equal((await endedCallOf(page, cid, chatBlocked)).customer_id, blocked.json.id);

    // --- Early media: the carrier's 183 with SDP plays speech before the (failed) end; the
    // staff member hears it while the call rings, and no local ringback is played over it.
    // 3.5 s of speech, refused after 5 s: inside the test's 6 s ring timeout.
    const earlyWav = path.join(work, 'early.wav');
    const earlyPcap = path.join(work, 'early.pcap');
    execFileSync('sox', [path.join(PEERS, 'media/speech_8k.wav'), earlyWav, 'trim', '0', '3.5']);
    execFileSync('python3', [path.join(PEERS, 'tools/rtp_pcap.py'), '--wav', earlyWav, '--out', earlyPcap]);
    s = scenarioCallee(work, 'uas_early_media', carrier, { PCAP: earlyPcap });
    running.push(s);
    await sleep(300);
    await dial(page, '090-8888-9999', 'new lead');
    await page.locator('[data-testid=dialing]', { hasText: 'Ringing' }).waitFor({ timeout: 10_000 });
    const early = await recordCallAudio(page, 4500, path.join(work, 'sato-heard-early.wav'));
    const heardEarly = wavcmp(earlyWav, early);
    assert.ok(heardEarly.ok, `Sato did not hear the carrier's early media: ${heardEarly.out}`);
    await page.locator('[data-testid=call-outcome][data-outcome=busy]').waitFor({ timeout: 15_000 });
    await finished(s, 'SIPp carrier with early media');

    // --- Bad input gets a clear error, and nothing is dialled.
    const bad = await apiFromPage(page, 'POST', `/api/v1/channels/${cid}/calls`, { to: 'not a number', sdp: 'v=0' });
    assert.equal(bad.status, 422, bad.text);
    assert.equal(bad.json.code, 'invalid_phone_number');
    const unknownField = await apiFromPage(page, 'POST', `/api/v1/channels/${cid}/calls`, { to: '0312345678', sdp: 'v=0', from: 'x' });
    assert.ok(unknownField.status === 400 || unknownField.status === 422, unknownField.text);

    // --- No operator seat: Tanaka cannot call out (SPEC OUT-5).
    const { page: tanaka } = await newPage(browser);
    await login(tanaka, server.base, ACCOUNTS.operator, { lang: 'en' });
    const tanakaId = (await apiFromPage(tanaka, 'GET', '/api/v1/me')).json.staff.id;
    const seat = await apiFromPage(page, 'PATCH', `/api/v1/channels/${cid}/staff/${tanakaId}`, { operator_seat: false });
    assert.equal(seat.status, 200, seat.text);
    assert.equal(seat.json.operator_seat, false);
    const notAllowed = await apiFromPage(tanaka, 'POST', `/api/v1/channels/${cid}/calls`, { to: '0312345678', sdp: 'v=0' });
    assert.equal(notAllowed.status, 403, notAllowed.text);
    assert.equal(notAllowed.json.code, 'no_operator_seat');
    await tanaka.reload();
    await tanaka.locator('[data-testid=ws-status][data-state=live]').waitFor({ timeout: 15_000 });
    await tanaka.getByTestId('open-dialer').click();
    await tanaka.getByTestId('dial-number').fill('03-1234-5678');
    await tanaka.locator('[data-testid=dial-who]', { hasText: '03-1234-5678' }).waitFor();
    assert.equal(await tanaka.getByTestId('dial-call').isDisabled(), true);
    assert.match(await tanaka.getByTestId('dialer').innerText(), /operator seat/);

    assert.deepEqual(page.errors, []);
    assert.deepEqual(tanaka.errors, []);
  } finally {
    for (const s of running) s.p.kill('SIGKILL');
    await browser.close();
    await server.stop();
  }
});
