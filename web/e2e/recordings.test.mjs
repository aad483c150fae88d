// Call recordings and transcripts end to end (SPEC RC-1..3): the demo channel is switched to
// English; a SIPp customer calls the demo number saying "I would like a refund for order number
// four two seven." (espeak-ng, sent as G.711 from a pcap); Sato answers in Chromium (a fake
// microphone saying something else), puts the customer on hold for ~3 s with hold music that
// is a pure tone, resumes, and the customer hangs up. The chat, open in the console all along,
// then shows without a reload the recording (an MP3 that plays, at a chosen speed, and
// downloads) and the transcript: the customer's line about the refund, labelled as the
// customer's; clicking it seeks the player there. The inbox keyword search finds the chat by
// its transcript line. The hold music is not in the recording: the tone, clear in the uploaded
// file and in what the customer heard, is measured in the MP3 (decoded by the browser) with a
// Goertzel filter against its neighbouring frequencies.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ACCOUNTS, PEERS, apiFromPage, freeUdpBlock, launchBrowser, login, newPage, phrase, shot, startServer, writeWav } from './harness.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => console.error(`[recordings ${new Date().toISOString().slice(11, 23)}]`, ...a);

/** The hold music's tone (Hz): above most of a voice's harmonics, well inside the telephone band. */
const TONE_HZ = 2730;
/** Where the tone's surroundings are measured (Hz from it): outside the analysis window's main lobe. */
const NEIGHBOURS = [-240, -200, -160, -120, -80, 80, 120, 160, 200, 240];

function whisperModels() {
  const dir = process.env.DENWA_WHISPER_MODELS;
  if (!dir || !fs.existsSync(path.join(dir, 'tiny.en'))) {
    throw new Error('DENWA_WHISPER_MODELS must name a folder with the Whisper models (tiny.en/, base/); scripts/test.sh fetches them');
  }
  return path.resolve(dir);
}

/** The customer's side: espeak-ng speech as 8 kHz mono WAV (0.5 s before, 1 s after), then an RTP pcap for SIPp. */
function customerPcap(text, dir) {
  const raw = path.join(dir, 'customer.raw.wav');
  const wav = path.join(dir, 'customer.wav');
  const pcap = path.join(dir, 'customer.pcap');
  execFileSync('espeak-ng', ['-v', 'en-us', '-s', '140', '-w', raw, text]);
  execFileSync('sox', [raw, '-r', '8000', '-c', '1', '-b', '16', wav, 'pad', '0.5', '1']);
  execFileSync('python3', [path.join(PEERS, 'tools/rtp_pcap.py'), '--wav', wav, '--out', pcap]);
  const ms = Number(execFileSync('python3', [path.join(PEERS, 'tools/pcap_duration_ms.py'), pcap], { encoding: 'utf8' }).trim());
  return { pcap, ms };
}

/** A pure sine tone as a 16-bit mono WAV. */
function toneWav(file, { hz, seconds, rate = 8000, amplitude = 0.5 }) {
  const n = Math.round(seconds * rate);
  const data = Buffer.alloc(n * 2);
  for (let i = 0; i < n; i++) data.writeInt16LE(Math.round(amplitude * 32767 * Math.sin((2 * Math.PI * hz * i) / rate)), i * 2);
  writeWav(file, data, rate);
  return file;
}

/**
 * Runs in the page: decodes audio (bytes as base64, or a URL such as the player's object URL)
 * with the browser's decoder at 16 kHz and measures, with a Goertzel filter over 64 ms Hann
 * windows, the power at `freq` relative to the mean power at `freq + offsets`: per second of
 * audio (`blocks`, and their maximum) and over the whole file (`overall`). A pure tone there
 * gives a ratio in the thousands; speech or silence gives about 1.
 */
async function toneRatioInPage({ b64, url, freq, offsets }) {
  let bytes;
  if (url) {
    const r = await fetch(url);
    if (!r.ok) throw new Error(`fetch ${url}: ${r.status}`);
    bytes = await r.arrayBuffer();
  } else {
    const bin = atob(b64);
    const u = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) u[i] = bin.charCodeAt(i);
    bytes = u.buffer;
  }
  const fs = 16000;
  const audio = await new OfflineAudioContext(1, 1, fs).decodeAudioData(bytes);
  const n = audio.length;
  const x = new Float32Array(n);
  for (let c = 0; c < audio.numberOfChannels; c++) {
    const d = audio.getChannelData(c);
    for (let i = 0; i < n; i++) x[i] += d[i] / audio.numberOfChannels;
  }
  const N = 1024;
  const hop = 512;
  const win = new Float32Array(N);
  for (let i = 0; i < N; i++) win[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (N - 1));
  const goertzel = (start, f) => {
    const coeff = 2 * Math.cos((2 * Math.PI * f) / fs);
    let s1 = 0;
    let s2 = 0;
    for (let i = 0; i < N; i++) {
      const s = x[start + i] * win[i] + coeff * s1 - s2;
      s2 = s1;
      s1 = s;
    }
    return s1 * s1 + s2 * s2 - coeff * s1 * s2;
  };
  const blocks = [];
  let atF = 0;
  let around = 0;
  let sq = 0;
  for (let i = 0; i < n; i++) sq += x[i] * x[i];
  for (let start = 0; start + N <= n; start += hop) {
    const b = Math.floor(start / fs);
    blocks[b] ??= { f: 0, nb: 0 };
    const pf = goertzel(start, freq);
    let pn = 0;
    for (const o of offsets) pn += goertzel(start, freq + o);
    pn /= offsets.length;
    blocks[b].f += pf;
    blocks[b].nb += pn;
    atF += pf;
    around += pn;
  }
  const eps = 1e-6;
  const ratios = blocks.map((b) => (b.f + eps) / (b.nb + eps));
  return {
    seconds: n / fs,
    rms: Math.sqrt(sq / Math.max(1, n)),
    overall: (atF + eps) / (around + eps),
    maxBlock: Math.max(...ratios),
    blocks: ratios.map((r) => Number(r.toFixed(2))),
  };
}

const playerState = (page) =>
  page.locator('[data-testid=recording-player]').evaluate((el) => ({ duration: el.duration, currentTime: el.currentTime, paused: el.paused, rate: el.playbackRate, src: el.src }));

test('a recorded call plays in the console, its transcript is labelled and searchable, and the hold music is not in it', { timeout: 300_000 }, async () => {
  const models = whisperModels();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'denwa-recordings-'));
  const customer = customerPcap('I would like a refund for order number four two seven.', work);
  const satoSays = phrase('Thank you for calling. Let me check that for you.', path.join(work, 'sato.wav'));
  const tone = toneWav(path.join(work, 'tone.wav'), { hz: TONE_HZ, seconds: 6 });
  const ports = freeUdpBlock(64);
  const server = await startServer({
    extraArgs: ['--sip', `127.0.0.1:${ports}`, '--rtp-ports', `${ports + 2}-${ports + 41}`, '--whisper-models', models],
  });
  const browser = await launchBrowser({ fakeMic: satoSays });
  let sipp = null;
  const t0 = Date.now();
  const since = () => `${((Date.now() - t0) / 1000).toFixed(1)} s`;
  try {
    const { page } = await newPage(browser);
    await login(page, server.base, ACCOUNTS.owner, { lang: 'en' });
    const me = (await apiFromPage(page, 'GET', '/api/v1/me')).json.staff;

    // The channel speaks English (tiny.en transcribes it); its hold music is the tone.
    const patched = await apiFromPage(page, 'PATCH', '/api/v1/channels/1', { locale: 'en' });
    assert.equal(patched.status, 200, patched.text);
    assert.equal(patched.json.locale, 'en');
    const token = await page.evaluate(() => localStorage.getItem('denwa.token'));
    const up = await fetch(`${server.base}/api/v1/channels/1/audio/hold-music`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'audio/wav' },
      body: fs.readFileSync(tone),
    });
    assert.equal(up.status, 200, await up.text());

    // The customer calls, says their sentence once, and hangs up 16 s after the answer.
    const runDir = path.join(work, 'sipp');
    fs.mkdirSync(runDir);
    const sippLogFile = path.join(work, 'sipp.log');
    sipp = spawn('bash', [path.join(PEERS, 'sipp/sipp_caller.sh')], {
      env: {
        ...process.env,
        RUN_DIR: runDir,
        SUT_PORT: String(ports),
        CALLER_SIP_PORT: String(ports + 50),
        CALLER_RTP_PORT: String(ports + 52),
        SERVICE: '05012345678',
        CALLER: '09011112222',
        SCENARIO: 'pcap',
        PCAP: customer.pcap,
        HOLD_MS: '16000',
        REC: '1',
      },
      stdio: ['ignore', fs.openSync(sippLogFile, 'w'), fs.openSync(sippLogFile, 'a')],
    });
    const sippDone = new Promise((resolve) => sipp.on('exit', (code) => resolve(code)));

    await page.locator('[data-testid=incoming-call]').waitFor({ timeout: 20_000 });
    await page.locator('[data-testid=accept-call]').click();
    await page.locator('[data-testid=ring-box][data-state=joined]').waitFor({ timeout: 15_000 });
    const answeredAt = Date.now();
    const callId = Number(await page.locator('[data-testid=ring-box]').getAttribute('data-call-id'));
    const call = await apiFromPage(page, 'GET', `/api/v1/channels/1/calls/${callId}`);
    assert.equal(call.status, 200, call.text);
    const chatId = call.json.call.chat_id;
    log('answered call', callId, 'chat', chatId, 'customer speech', customer.ms, 'ms', since());

    // The chat stays open in the console through the call: what follows must arrive live.
    await page.evaluate((id) => { location.hash = `#/inbox/${id}`; }, chatId);
    await page.locator(`[data-testid=chat-view][data-chat-id="${chatId}"]`).waitFor();
    await page.locator('[data-testid=ring-box][data-state=joined]').waitFor({ timeout: 15_000 });
    const panel = page.locator(`[data-testid=recording-panel][data-call-id="${callId}"]`);
    // While the call goes on, its panel says it is being recorded.
    await panel.locator('[data-testid=recording-status][data-state=pending]').waitFor({ timeout: 10_000 });
    assert.equal(await panel.getAttribute('data-mp3'), 'pending');

    // After the customer's sentence: hold for 3 s (the customer hears the tone), then resume.
    await sleep(Math.max(0, answeredAt + customer.ms + 800 - Date.now()));
    await page.locator('[data-testid=hold]').click();
    await page.locator('[data-testid=hold-badge]').waitFor();
    log('on hold', since());
    await sleep(3000);
    await page.locator('[data-testid=resume]').click();
    await page.locator('[data-testid=hold-badge]').waitFor({ state: 'detached' });
    log('resumed', since());

    const code = await Promise.race([sippDone, sleep(40_000).then(() => 'timeout')]);
    assert.equal(code, 0, `SIPp customer: ${fs.readFileSync(sippLogFile, 'utf8').slice(-3000)}`);
    sipp = null;
    await page.locator('[data-testid=ring-box]').waitFor({ state: 'detached', timeout: 10_000 });
    log('call ended', since());

    // Live, without a reload: the MP3, then the transcript; both announced in the timeline.
    const timeline = page.locator('[data-testid=timeline]');
    await timeline.locator('[data-testid=timeline-item][data-kind=recording_ready]').waitFor({ timeout: 60_000 });
    log('recording ready', since());
    await page.locator('[data-testid=recording-player]').waitFor({ timeout: 15_000 });
    await timeline.locator('[data-testid=timeline-item][data-kind=transcript_ready]').waitFor({ timeout: 150_000 });
    await panel.locator('[data-testid=transcript-status][data-state=done]').waitFor({ timeout: 15_000 });
    log('transcript ready', since());
    for (const kind of ['recording_ready', 'transcript_ready']) {
      const text = await timeline.locator(`[data-testid=timeline-item][data-kind=${kind}]`).innerText();
      assert.doesNotMatch(text, new RegExp(kind), `${kind} is shown as an unknown event: ${text}`);
    }
    await shot(page, 'recording-panel');

    // The server's view, to compare with what the console shows.
    const rec = await apiFromPage(page, 'GET', `/api/v1/channels/1/calls/${callId}/recording`);
    assert.equal(rec.status, 200, rec.text);
    log('recording', JSON.stringify({ ...rec.json, lines: rec.json.lines.map((l) => `${l.speaker}@${l.offset_ms}-${l.end_ms}: ${l.text}`) }));
    assert.equal(rec.json.mp3, 'ready');
    assert.equal(rec.json.transcript, 'done');
    assert.equal(rec.json.language, 'en');
    const ended = await apiFromPage(page, 'GET', `/api/v1/channels/1/calls/${callId}`);
    const talkMs = Date.parse(ended.json.call.ended_at) - Date.parse(ended.json.call.answered_at);
    assert.ok(ended.json.call.hold_ms >= 2500, `hold_ms ${ended.json.call.hold_ms}`);
    // The recording covers the whole call, the hold included (as silence from the customer).
    assert.ok(Math.abs(rec.json.duration_ms - talkMs) < 2500, `MP3 ${rec.json.duration_ms} ms for a call of ${talkMs} ms`);

    // The player has the MP3 and plays it; the speed applies.
    await page.waitForFunction(() => {
      const el = document.querySelector('[data-testid=recording-player]');
      return el && Number.isFinite(el.duration) && el.duration > 0;
    }, null, { timeout: 15_000 });
    let st = await playerState(page);
    assert.ok(Math.abs(st.duration * 1000 - rec.json.duration_ms) < 1500, `player duration ${st.duration} s, recording ${rec.json.duration_ms} ms`);
    assert.match(st.src, /^blob:/);
    const blobBytes = await page.evaluate(async (src) => (await (await fetch(src)).arrayBuffer()).byteLength, st.src);
    assert.equal(blobBytes, rec.json.mp3_bytes);
    await page.locator('[data-testid=recording-speed]').selectOption('1.5');
    await page.locator('[data-testid=recording-player]').evaluate((el) => el.play());
    const before = (await playerState(page)).currentTime;
    await sleep(1500);
    st = await playerState(page);
    assert.equal(st.rate, 1.5);
    assert.equal(st.paused, false);
    assert.ok(st.currentTime > before + 1, `the player did not advance: ${before} -> ${st.currentTime}`);
    await page.locator('[data-testid=recording-player]').evaluate((el) => el.pause());

    // The download is the MP3.
    const [dl] = await Promise.all([page.waitForEvent('download'), page.locator('[data-testid=recording-download]').click()]);
    assert.equal(dl.suggestedFilename(), `call-${callId}.mp3`);
    const file = fs.readFileSync(await dl.path());
    assert.equal(file.length, rec.json.mp3_bytes);
    assert.ok(file.subarray(0, 3).toString('latin1') === 'ID3' || (file[0] === 0xff && (file[1] & 0xe0) === 0xe0), `not an MP3: ${file.subarray(0, 4).toString('hex')}`);

    // The transcript: the customer's refund line, labelled as the customer's; Sato's lines by name.
    const refund = panel.locator('[data-testid=transcript-line][data-speaker=customer]', { hasText: /refund/i });
    assert.equal(await refund.count(), 1, `no customer line with "refund": ${await panel.locator('[data-testid=transcript]').innerText().catch(() => '(no transcript)')}`);
    const lineText = await refund.innerText();
    assert.match(lineText, /山田 太郎/, `the customer's line is not labelled with their name: ${lineText}`);
    const offsetMs = Number(await refund.getAttribute('data-offset-ms'));
    assert.ok(rec.json.lines.some((l) => l.speaker === 'customer' && l.offset_ms === offsetMs && /refund/i.test(l.text)));
    const satoLines = panel.locator(`[data-testid=transcript-line][data-speaker="${me.id}"]`);
    assert.ok((await satoLines.count()) > 0, 'no line of Sato in the transcript');
    assert.match(await satoLines.first().innerText(), new RegExp(me.name));

    // Clicking the line plays the recording from there.
    await refund.click();
    await sleep(300);
    st = await playerState(page);
    assert.equal(st.paused, false);
    assert.ok(st.currentTime >= offsetMs / 1000 - 0.05 && st.currentTime < offsetMs / 1000 + 1.5, `clicked a line at ${offsetMs} ms, the player is at ${st.currentTime} s`);
    await page.locator('[data-testid=recording-player]').evaluate((el) => el.pause());

    // The hold music is not in the recording: the tone stands out in the uploaded file and in what
    // the customer heard (so it did play), but not in the MP3 the console plays.
    const measure = (args) => page.evaluate(toneRatioInPage, { freq: TONE_HZ, offsets: NEIGHBOURS, ...args });
    const inTone = await measure({ b64: fs.readFileSync(tone).toString('base64') });
    const rx = path.join(runDir, 'rx.wav');
    assert.ok(fs.existsSync(rx), 'SIPp recorded nothing of what the customer heard');
    const heard = await measure({ b64: fs.readFileSync(rx).toString('base64') });
    const inMp3 = await measure({ url: st.src });
    const brief = (m) => ({ seconds: Number(m.seconds.toFixed(2)), rms: Number(m.rms.toFixed(4)), overall: Number(m.overall.toFixed(2)), maxBlock: Number(m.maxBlock.toFixed(2)), blocks: m.blocks });
    log('tone measure: uploaded', JSON.stringify(brief(inTone)));
    log('tone measure: customer heard', JSON.stringify(brief(heard)));
    log('tone measure: MP3', JSON.stringify(brief(inMp3)));
    assert.ok(inTone.overall > 1000, `the measure does not see the tone in the tone file: ${inTone.overall}`);
    assert.ok(heard.maxBlock > 100, `the customer did not hear the tone on hold (max ratio ${heard.maxBlock})`);
    assert.ok(inMp3.rms > 0.003, `the MP3 is silent (rms ${inMp3.rms})`);
    assert.ok(inMp3.maxBlock < 10, `the hold music is in the recording: tone/neighbours up to ${inMp3.maxBlock} per second (${inMp3.blocks.join(' ')})`);

    // The inbox search finds the chat by the transcript line and says where it is from.
    await page.evaluate(() => { location.hash = "#/inbox"; });
    await page.locator('[data-testid=filter-keyword]').fill('refund');
    await page.locator('[data-testid=filters] button[type=submit]').click();
    await page.locator('[data-testid=chat-list][data-query*="q=refund"]').waitFor();
    const row = page.locator(`[data-testid=chat-row][data-chat-id="${chatId}"]`);
    await row.waitFor();
    const match = row.locator('[data-testid=chat-match]');
    assert.equal(await match.getAttribute('data-kind'), 'transcript');
    assert.equal(await match.getAttribute('data-speaker'), 'customer');
    assert.match(await match.locator('[data-testid=search-mark]').first().innerText(), /refund/i);
    await match.locator('[data-testid=chat-match-source]').waitFor();
    await shot(page, 'recording-search');
    await row.click();
    await page.locator(`[data-testid=chat-view][data-chat-id="${chatId}"]`).waitFor();
    await page.locator(`[data-testid=recording-panel][data-call-id="${callId}"] [data-testid=recording-player]`).waitFor({ timeout: 15_000 });
    await page.locator(`[data-testid=recording-panel][data-call-id="${callId}"] [data-testid=transcript-line][data-speaker=customer]`, { hasText: /refund/i }).waitFor();

    assert.deepEqual(page.errors, []);
    log('done', since());
  } finally {
    if (sipp) sipp.kill('SIGKILL');
    await browser.close();
    await server.stop();
  }
});
