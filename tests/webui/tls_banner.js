// The console's plain-HTTP warning in Chromium (run by test_tls.py inside
// its network namespace).  Env: FAR (http://10.254.0.1:port, a non-loopback
// address), NEAR (http://127.0.0.1:port), PASSWORD (admin's), PROFILE.
'use strict';
const { chromium } = require('playwright-core');

const failures = [];
function check(cond, what) {
  console.log((cond ? 'ok   ' : 'FAIL ') + what);
  if (!cond) failures.push(what);
}

async function consoleBanner(browser, base, locale) {
  const context = await browser.newContext({ locale });
  const page = await context.newPage();
  page.setDefaultTimeout(20000);
  await page.goto(base + '/');
  await page.waitForSelector('#login:not(.hidden)');
  await page.fill('#user', 'admin');
  await page.fill('#password', process.env.PASSWORD);
  await page.click('#login-button');
  await page.waitForURL(/console\.html/);
  await page.waitForSelector('header.top nav a');          // the header is drawn
  const banner = await page.$('#insecure-banner');
  const text = banner && (await banner.isVisible()) ? await banner.textContent() : null;
  await context.close();
  return text;
}

(async () => {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    let text = await consoleBanner(browser, process.env.FAR, 'en-US');
    check(text && text.includes('Not secure') && text.includes('tls = auto'),
          'plain HTTP from another machine: the console shows the warning: ' + text);
    text = await consoleBanner(browser, process.env.FAR, 'zh-CN');
    check(text && text.includes('连接不安全'), 'the same in Chinese: ' + text);
    text = await consoleBanner(browser, process.env.NEAR, 'en-US');
    check(text === null, 'from loopback: no warning');
  } catch (e) {
    check(false, String(e).split('\n')[0]);
  }
  await browser.close();
  process.exit(failures.length ? 1 : 0);
})();
