// Alerts in a real browser: a silent mic (synthetic, speaks = 25-60) on a
// recording daemon shows the console's banner and the mic meter's badge,
// and the teacher page's plain-language warning; both go when it speaks.
// Env: BASE, SHOTS, PROFILE, SETUP_CODE.
'use strict';
const { check, eventually, launch, finish } = require('./lib');
const path = require('path');

const BASE = process.env.BASE;

(async () => {
  const context = await launch({ viewport: { width: 1366, height: 900 }, locale: 'en-US' });
  try {
    const page = context.pages()[0] || await context.newPage();
    page.setDefaultTimeout(60000);
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(BASE + '/');
    await page.waitForSelector('#setup:not(.hidden)');
    await page.fill('#setup-code', process.env.SETUP_CODE);
    await page.fill('#setup-password', 'alerts test pw 1');
    await page.fill('#setup-password2', 'alerts test pw 1');
    await page.click('#setup-button');
    await page.waitForURL(/console\.html/);

    await page.waitForSelector('#alert-banner [data-alert="mic_silent"][data-subject="lapel"]');
    const text = await page.textContent('#alert-banner');
    check(/Microphone “lapel” has been silent for 3 s — is it switched on\?/.test(text),
      'console: banner says the mic is silent (' + text.trim() + ')');
    await page.waitForSelector('#meters .meter.alerting[data-name="lapel"]');
    check(true, 'console: the mic meter carries the alert badge');
    await page.screenshot({ path: path.join(process.env.SHOTS, 'alert-console.png') });

    const teacher = await context.newPage();
    teacher.setDefaultTimeout(60000);
    teacher.on('pageerror', (e) => errors.push(String(e)));
    await teacher.goto(BASE + '/teacher.html');
    await teacher.waitForSelector('#alert-warning:not([hidden])');
    const warn = await teacher.textContent('#alert-warning');
    check(/silent for 3 s — is it switched on\?/.test(warn), 'teacher: warning while recording (' + warn.trim() + ')');
    await teacher.screenshot({ path: path.join(process.env.SHOTS, 'alert-teacher.png') });

    // the mic speaks from its 25th second: both go
    await page.waitForSelector('#alert-banner', { state: 'detached', timeout: 120000 });
    check(true, 'console: the banner goes when the mic speaks');
    // the badge is the meters' (their own event): it goes by itself
    await eventually('console: the badge goes', async () =>
      ({ ok: await page.$('#meters .meter.alerting[data-name="lapel"]') === null }), 60000);
    await teacher.waitForSelector('#alert-warning', { state: 'hidden', timeout: 60000 });
    check(true, 'teacher: the warning goes when the mic speaks');

    check(errors.length === 0, 'no script errors: ' + errors.join(' | '));
  } catch (e) {
    check(false, String(e).split('\n')[0]);
  } finally {
    await context.close();
  }
  finish();
})();
