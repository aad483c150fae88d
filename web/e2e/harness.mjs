// End-to-end harness: starts the real Denwa server (DENWA_BIN) on a free port with the demo data and
// a fresh data dir, and drives Debian's Chromium through playwright-core.
//
// Env: DENWA_BIN (default ../target/debug/denwa, relative to web/), CHROMIUM (default /usr/bin/chromium),
//      HEADLESS=0 to watch, E2E_OUT (default web/e2e/out) for screenshots and the server log.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const WEB = path.resolve(HERE, '..');
export const OUT = path.resolve(process.env.E2E_OUT || path.join(HERE, 'out'));
export const DEMO_PASSWORD = process.env.DENWA_DEMO_PASSWORD || `e2e-${process.pid}-${Date.now().toString(36)}`;
export const ACCOUNTS = {
  owner: 'sato@example.com',
  manager: 'suzuki@example.com',
  operator: 'tanaka@example.com',
};

fs.mkdirSync(OUT, { recursive: true });
const log = (...a) => console.error(`[e2e ${new Date().toISOString().slice(11, 23)}]`, ...a);

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** `n` consecutive ports free for UDP and TCP (SIP, RTP), from a random start. */
export function freeUdpBlock(n) {
  for (let tries = 0; tries < 200; tries++) {
    const base = 30000 + 2 * Math.floor(Math.random() * 10000);
    try {
      execFileSync('bash', ['-c', `for p in $(seq ${base} ${base + n - 1}); do ! ss -Hlnu "sport = :$p" | grep -q . || exit 1; ! ss -Hlnt "sport = :$p" | grep -q . || exit 1; done`]);
      return base;
    } catch {
      /* busy, try another */
    }
  }
  throw new Error('no free port block');
}

/** Starts `denwa serve --demo` (plus `extraArgs`) and waits for /healthz. Returns {base, stop}. */
export async function startServer({ extraArgs = [] } = {}) {
  const bin = path.resolve(WEB, process.env.DENWA_BIN || '../target/debug/denwa');
  if (!fs.existsSync(bin)) throw new Error(`Denwa server binary not found at ${bin} (set DENWA_BIN)`);
  const dist = path.join(WEB, 'dist');
  if (!fs.existsSync(path.join(dist, 'index.html'))) throw new Error(`${dist}/index.html missing: run "npm run build" first`);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'denwa-e2e-'));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const logFile = path.join(OUT, `server-${port}.log`);
  const logFd = fs.openSync(logFile, 'w');
  const args = ['serve', '--demo', '--data-dir', dataDir, '--http', `127.0.0.1:${port}`, '--web-dir', dist, ...extraArgs];
  const env = { ...process.env, DENWA_DEMO_PASSWORD: DEMO_PASSWORD };
  let child = null;
  let exited = null;

  /** Stops the server process by its PID: TERM, then KILL after 3 s. */
  const kill = async () => {
    if (child && exited === null && child.pid) {
      try {
        process.kill(child.pid, 'SIGTERM');
      } catch {
        /* already gone */
      }
      for (let i = 0; i < 30 && exited === null; i++) await sleep(100);
      if (exited === null) {
        try {
          process.kill(child.pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
        for (let i = 0; i < 30 && exited === null; i++) await sleep(100);
      }
    }
  };
  const stop = async () => {
    await kill();
    fs.closeSync(logFd);
    fs.rmSync(dataDir, { recursive: true, force: true });
  };

  /** Spawns the server (same port and data dir every time) and waits for /healthz. */
  const launch = async () => {
    exited = null;
    const c = spawn(bin, args, { env, stdio: ['ignore', logFd, logFd] });
    child = c;
    c.on('exit', (code, sig) => {
      if (child === c) exited = { code, sig };
    });
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (exited !== null) {
        const e = exited;
        await stop();
        throw new Error(`server exited early (${JSON.stringify(e)}); log:\n${fs.readFileSync(logFile, 'utf8').slice(-3000)}`);
      }
      try {
        const r = await fetch(`${base}/healthz`);
        if (r.ok) break;
      } catch {
        /* not up yet */
      }
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`server did not answer /healthz within 60 s; log:\n${fs.readFileSync(logFile, 'utf8').slice(-3000)}`);
      }
      await sleep(200);
    }
    log('server up at', base, 'pid', c.pid, 'log', logFile);
  };
  await launch();

  /** Runs `denwa admin --data-dir <this server's dir> ...args` and returns its stdout. */
  const admin = (...a) => execFileSync(bin, ['admin', '--data-dir', dataDir, ...a], { encoding: 'utf8', timeout: 30_000 });
  return {
    base,
    dataDir,
    logFile,
    stop,
    admin,
    /** Stops the server (clients see the connection drop); `start()` brings it back on the same port and data. */
    halt: kill,
    start: launch,
  };
}

/** Chromium; `fakeMic` (a WAV path) makes its microphone play that file in a loop. */
export async function launchBrowser({ fakeMic } = {}) {
  const media = fakeMic
    ? [
        '--use-fake-ui-for-media-stream',
        '--use-fake-device-for-media-stream',
        `--use-file-for-fake-audio-capture=${fakeMic}`,
        '--allow-loopback-in-peer-connection',
        '--autoplay-policy=no-user-gesture-required',
      ]
    : [];
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: process.env.HEADLESS !== '0',
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      ...media,
    ],
    timeout: 30_000,
  });
}

/** A fresh browser context (own localStorage), with console errors collected. */
export async function newPage(browser, { locale = 'en-US', viewport = { width: 1400, height: 900 } } = {}) {
  const ctx = await browser.newContext({ locale, viewport });
  const page = await ctx.newPage();
  page.setDefaultTimeout(10_000);
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(String(e)));
  return { ctx, page };
}

/** Signs in through the login form and waits for the console (live WebSocket included). */
export async function login(page, base, email, { lang } = {}) {
  await page.goto(`${base}/`);
  if (lang) {
    await page.evaluate((l) => localStorage.setItem('denwa.lang', l), lang);
    await page.reload();
  }
  await page.locator('input[name=email]').fill(email);
  await page.locator('input[name=password]').fill(DEMO_PASSWORD);
  await page.locator('form button[type=submit]').click();
  await page.locator('[data-testid=ws-status][data-state=live]').waitFor({ timeout: 15_000 });
}

/** Calls the API with the page's session token (for setup and cross-checks). */
export async function apiFromPage(page, method, p, body) {
  return page.evaluate(
    async ({ method, p, body }) => {
      const token = localStorage.getItem('denwa.token');
      const r = await fetch(p, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await r.text();
      let json = null;
      try {
        json = JSON.parse(text);
      } catch {
        /* not JSON */
      }
      return { status: r.status, json, text };
    },
    { method, p, body },
  );
}

export async function shot(page, name) {
  const file = path.join(OUT, `${name}.png`);
  await page.screenshot({ path: file, fullPage: false });
  log('screenshot', file);
  return file;
}

/** Writes `data` (16-bit little-endian mono PCM at `rate` Hz) to `file` as a WAV file. */
export function writeWav(file, data, rate) {
  const h = Buffer.alloc(44);
  h.write('RIFF', 0);
  h.writeUInt32LE(36 + data.length, 4);
  h.write('WAVEfmt ', 8);
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20);
  h.writeUInt16LE(1, 22);
  h.writeUInt32LE(rate, 24);
  h.writeUInt32LE(rate * 2, 28);
  h.writeUInt16LE(2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36);
  h.writeUInt32LE(data.length, 40);
  fs.writeFileSync(file, Buffer.concat([h, data]));
}

/** The id of the demo channel (or the first channel) of the page's signed-in staff member. */
export async function demoChannelId(page) {
  const me = await apiFromPage(page, 'GET', '/api/v1/me');
  if (me.status !== 200) throw new Error(`GET /api/v1/me: ${me.status} ${me.text}`);
  const ch = me.json.channels.find((c) => c.name === 'Denwa Demo') ?? me.json.channels[0];
  if (!ch) throw new Error('the demo staff member belongs to no channel');
  return ch.id;
}

/** Types a contacts search and waits until the results shown are those of that query. */
export async function searchContacts(p, q) {
  await p.getByTestId('contacts-search').fill(q);
  await p.locator('[data-testid=contact-results]').and(p.locator(`[data-query="${q.trim().replace(/"/g, '\\"')}"]`)).waitFor();
}

/** The third-party peer recipes and media fixtures (SIPp scenarios, wavcmp, speech). */
export const PEERS = path.resolve(WEB, '../tests/peers');

/** A WAV of espeak-ng saying `text`, at 48 kHz mono (Chromium's fake microphone). */
export function phrase(text, file) {
  const raw = `${file}.raw.wav`;
  execFileSync('espeak-ng', ['-v', 'en-us', '-s', '150', '-w', raw, text]);
  execFileSync('sox', [raw, '-r', '48000', '-c', '1', '-b', '16', file, 'pad', '0.3', '0.3']);
  fs.rmSync(raw);
  return file;
}

/** Whether `heard` contains the speech of `ref` (tests/peers/tools/wavcmp.py); its report. */
export function wavcmp(ref, heard, extra = []) {
  try {
    const out = execFileSync('python3', [path.join(PEERS, 'tools/wavcmp.py'), ref, heard, ...extra], { encoding: 'utf8' });
    return { ok: true, out };
  } catch (e) {
    return { ok: false, out: String(e.stdout || '') + String(e.stderr || '') };
  }
}

/**
 * Records what the page's call audio element plays for `ms`, as a 16-bit mono WAV file. The
 * element appears when the browser leg is made, which may be just after the console shows
 * the call as joined (the events can overtake the HTTP answer): it is waited for.
 */
export async function recordCallAudio(page, ms, file) {
  await page.waitForFunction(() => {
    const el = document.querySelector('audio[data-testid=call-audio]');
    return !!el && !!el.srcObject;
  }, null, { timeout: 15_000 });
  const { rate, b64 } = await page.evaluate(async (ms) => {
    const el = document.querySelector('audio[data-testid=call-audio]');
    if (!el || !el.srcObject) throw new Error('no call audio element');
    const ctx = new AudioContext();
    const src = ctx.createMediaStreamSource(el.srcObject);
    const proc = ctx.createScriptProcessor(4096, 1, 1);
    const chunks = [];
    proc.onaudioprocess = (e) => chunks.push(new Float32Array(e.inputBuffer.getChannelData(0)));
    src.connect(proc);
    proc.connect(ctx.destination);
    await new Promise((r) => setTimeout(r, ms));
    proc.disconnect();
    src.disconnect();
    const n = chunks.reduce((a, c) => a + c.length, 0);
    const pcm = new Int16Array(n);
    let i = 0;
    for (const c of chunks) for (const x of c) pcm[i++] = Math.max(-32768, Math.min(32767, Math.round(x * 32767)));
    const bytes = new Uint8Array(pcm.buffer);
    let bin = '';
    for (let k = 0; k < bytes.length; k += 0x8000) bin += String.fromCharCode(...bytes.subarray(k, k + 0x8000));
    const rate = ctx.sampleRate;
    await ctx.close();
    return { rate, b64: btoa(bin) };
  }, ms);
  writeWav(file, Buffer.from(b64, 'base64'), rate);
  return file;
}
