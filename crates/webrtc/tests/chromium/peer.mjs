// Drives Debian's Chromium (playwright-core from web/node_modules) through page.html served by
// the Rust test: node peer.mjs <base url> <fake microphone wav>. Prints the page's result as JSON.
// Env: CHROMIUM (default /usr/bin/chromium), HEADLESS=0 to watch.
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const WEB = path.resolve(HERE, '../../../../web');
const { chromium } = createRequire(path.join(WEB, 'package.json'))('playwright-core');
const [base, wav] = process.argv.slice(2);
const log = (...a) => console.error(`[chromium ${new Date().toISOString().slice(11, 23)}]`, ...a);

const killer = setTimeout(() => { log('global timeout'); process.exit(124); }, 60_000);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: process.env.HEADLESS !== '0',
  args: [
    '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
    `--use-file-for-fake-audio-capture=${wav}`,
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--allow-loopback-in-peer-connection', '--autoplay-policy=no-user-gesture-required',
  ],
  timeout: 30_000,
});
let code = 0;
try {
  log('chromium', browser.version());
  const page = await browser.newPage();
  page.on('console', (m) => log('console', m.type(), m.text()));
  page.on('pageerror', (e) => log('pageerror', String(e)));
  await page.goto(`${base}/`);
  const result = await page.evaluate(() => window.run({ listenMs: 4000 }));
  result.browser = browser.version();
  console.log(JSON.stringify(result));
} catch (e) {
  log('ERROR', (e && e.stack) || e);
  code = 2;
} finally {
  await browser.close().catch(() => {});
  clearTimeout(killer);
}
process.exit(code);
