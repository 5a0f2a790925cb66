// Logs in to the cross-account example in headless Chromium, watches two credential renewals
// on the page, takes a screenshot after login, and logs out. Run by `make e2e`.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';

const base = process.env.BASE_URL ?? 'http://127.0.0.1:3101/';
const outDir = process.env.OUT_DIR ?? 'out/e2e';
mkdirSync(outDir, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const fail = (msg) => { console.error('e2e: FAIL: ' + msg); process.exitCode = 1; };
try {
  const page = await browser.newPage();
  const text = async (id) => (await page.textContent('#' + id)).trim();
  const visit = async (url) => {
    const resp = await page.goto(url);
    if (!resp.ok()) throw new Error(`${url}: HTTP ${resp.status()}`);
  };

  await visit(base);
  if (await text('user') !== 'not logged in') fail('a new visitor is logged in');
  const cookieBefore = (await page.context().cookies()).find((c) => c.name === 'session')?.value;

  await page.click('#login');
  await page.fill('#name', 'ada');
  await Promise.all([page.waitForURL(base), page.click('#submit')]);
  if (await text('user') !== 'ada') fail('login did not stick');
  const cookieAfter = (await page.context().cookies()).find((c) => c.name === 'session')?.value;
  if (!cookieBefore || cookieBefore === cookieAfter) fail('the session ID did not change at login');
  await page.screenshot({ path: `${outDir}/after-login.png`, fullPage: true });
  console.log(`e2e: logged in; screenshot ${outDir}/after-login.png`);

  const renewals0 = Number(await text('renewals'));
  const deadline = Date.now() + 60_000;
  let loads = 0;
  while (Number(await text('renewals')) < renewals0 + 2) {
    if (Date.now() > deadline) throw new Error('no two renewals within 60 s');
    await page.waitForTimeout(500);
    await visit(base);
    loads++;
    if (await text('user') !== 'ada') fail('the session was lost during a renewal');
  }
  if (await text('waits') !== '0') fail(`requests waited for STS: ${await text('waits')}`);
  console.log(`e2e: ${loads} page loads across two renewals; AssumeRole calls ${await text('assume-role-calls')}`);
  await page.screenshot({ path: `${outDir}/after-renewals.png`, fullPage: true });

  await Promise.all([page.waitForURL(base), page.click('#logout')]);
  if (await text('user') !== 'not logged in') fail('still logged in after logout');
  console.log('e2e: logged out');
} catch (err) {
  fail(err.message);
} finally {
  await browser.close();
}
if (!process.exitCode) console.log('e2e: 1 passed, 0 failed');
