// Accounts and the recordings library in Chromium (#19 items 2 and 6),
// after ui_test.js against the same webui_testd: the admin, teacher1 (made
// by ui_test.js) and 300 lessons that run_browser.py wrote into the data
// folder.  Env: BASE, SHOTS, PROFILE, PASSWORD (the admin's), EXPECT (a
// JSON file: Python's order of lesson ids for each query), MIC (the id of
// the lesson with audio/lapel.m4a), TMP (for the download).
'use strict';
const { chromium } = require('playwright-core');
const { check, step, finish } = require('./lib');
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');

const BASE = process.env.BASE;
const EXPECT = JSON.parse(fs.readFileSync(process.env.EXPECT, 'utf8'));
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required'];

async function login(page, user, password) {
  await page.goto(BASE + '/index.html');
  await page.waitForSelector('#login:not(.hidden)');
  await page.fill('#user', user);
  await page.fill('#password', password);
  await page.click('#login-button');
  await page.waitForURL((u) => !/index\.html/.test(String(u)));
}
// a fetch from the page, with its session (and CSRF token for a change)
const call = (page, method, url, body) => page.evaluate(async ([m, u, b]) => {
  const r = await LB.api(u, { method: m, body: b });
  return { status: r.status, data: r.data };
}, [method, url, body]);
// a login in a fresh context: the status only (the account's lock after a
// wrong password answers 429 for a second or two: wait it out)
async function loginStatus(browser, user, password) {
  for (let i = 0; i < 50; i++) {
    const ctx = await browser.newContext();
    const r = await ctx.request.post(BASE + '/api/v1/login', { data: { user, password } });
    await ctx.close();
    if (r.status() !== 429) return r.status();
    await new Promise((res) => setTimeout(res, 200));
  }
  return 429;
}

(async () => {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ARGS });
  const context = await browser.newContext({ viewport: { width: 1366, height: 900 }, locale: 'en-US', acceptDownloads: true });
  const page = await context.newPage();
  page.setDefaultTimeout(20000);
  page.on('dialog', (d) => d.accept());
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await login(page, 'admin', process.env.PASSWORD);

  await step('users: the last admin cannot be deleted or demoted', async () => {
    await page.goto(BASE + '/admin.html');
    await page.waitForSelector('#users tr[data-user="admin"]');
    const row = '#users tr[data-user="admin"]';
    check(await page.$eval(row + ' button.delete', (b) => b.disabled) &&
          await page.$eval(row + ' select.role', (s) => s.disabled),
          'users: the last admin\'s delete button and role are disabled');
    check((await page.$eval(row + ' button.delete', (b) => b.title)).length > 10, 'users: a hint says why');
    const r = await call(page, 'DELETE', '/api/v1/users/admin');
    check(r.status === 409 && r.data.code === 'last_admin_delete', 'users: API DELETE of the last admin: 409 last_admin_delete');
  });

  await step('users: admin resets teacher1\'s password and changes the role', async () => {
    const row = '#users tr[data-user="teacher1"]';
    await page.click(row + ' button.reset');
    await page.waitForSelector('#reset[open]');
    check((await page.textContent('#reset-title')).includes('teacher1'), 'users: the reset dialog names the user');
    await page.fill('#reset-password', 'reset pw 123');
    await page.fill('#reset-password2', 'reset pw 123');
    await page.click('#reset-save');
    await page.waitForSelector('#reset:not([open])', { state: 'attached' });
    await page.waitForSelector('#note:not(.hidden)');
    check(/teacher1/.test(await page.textContent('#note')), 'users: the page says the password was reset');
    await page.selectOption(row + ' select.role', 'operator');
    await page.waitForFunction(() => /operator/.test(document.getElementById('note').textContent));
    const users = (await call(page, 'GET', '/api/v1/users')).data;
    check(users.some((u) => u.name === 'teacher1' && u.role === 'operator'), 'users: teacher1 is now an operator');
    await page.screenshot({ path: path.join(process.env.SHOTS, 'users.png'), fullPage: true });
    check(await loginStatus(browser, 'teacher1', 'reset pw 123') === 200, 'users: teacher1 logs in with the reset password');
  });

  await step('account: teacher1 changes their own password; their other session ends', async () => {
    const a = await browser.newContext({ locale: 'en-US' });
    const b = await browser.newContext({ locale: 'en-US' });
    const pa = await a.newPage(), pb = await b.newPage();
    await login(pa, 'teacher1', 'reset pw 123');
    await login(pb, 'teacher1', 'reset pw 123');
    await pa.click('#account-link');
    await pa.waitForURL(/account\.html/);
    await pa.waitForSelector('#sessions tbody tr');
    check(await pa.locator('#sessions tbody tr').count() >= 2 && await pa.locator('#sessions tbody tr.current').count() === 1,
          'account: teacher1\'s sessions are listed, this one marked');
    await pa.fill('#pw-old', 'reset pw 123');
    await pa.fill('#pw-new', 'teacher pw 3');
    await pa.fill('#pw-new2', 'teacher pw 3');
    await pa.click('#pw-save');
    await pa.waitForSelector('#pw-done:not(.hidden)');
    check(true, 'account: the password is changed');
    await pa.screenshot({ path: path.join(process.env.SHOTS, 'account.png'), fullPage: true });
    const other = await pb.evaluate(async () => (await fetch('/api/v1/status')).status);
    const mine = await pa.evaluate(async () => (await fetch('/api/v1/status')).status);
    check(other === 401 && mine === 200, 'account: the other session gets 401, this one stays (' + other + ', ' + mine + ')');
    await pa.waitForFunction(() => document.querySelectorAll('#sessions tbody tr').length === 1);
    check(await loginStatus(browser, 'teacher1', 'teacher pw 3') === 200, 'account: the new password logs in');
    check(await loginStatus(browser, 'teacher1', 'reset pw 123') === 401, 'account: the old password no longer does');
    await pa.fill('#pw-old', 'not my password');
    await pa.fill('#pw-new', 'teacher pw 4');
    await pa.fill('#pw-new2', 'teacher pw 4');
    await pa.click('#pw-save');
    await pa.waitForFunction(() => document.getElementById('pw-error').textContent.length > 0);
    // wrong, or refused for now after the wrong guess just above (429)
    check(/current password is wrong|wait/i.test(await pa.textContent('#pw-error')) && await pa.isHidden('#pw-done'),
          'account: a wrong current password is refused, said so (' + await pa.textContent('#pw-error') + ')');
    await a.close();
    await b.close();
  });

  const ids = () => page.$$eval('#list tbody tr', (rs) => rs.map((r) => r.dataset.id));
  const total = async () => Number(await page.$eval('#page-info', (e) => e.dataset.total));
  async function waitRows(want) {
    try {
      await page.waitForFunction((w) => {
        const got = [...document.querySelectorAll('#list tbody tr')].map((r) => r.dataset.id);
        return JSON.stringify(got) === JSON.stringify(w);
      }, want, { timeout: 20000 });
    } catch (e) {
      const got = await ids();
      throw new Error('rows at ' + page.url() + ': ' + got.length + ' ' + got.slice(0, 3).join(',') + ' want ' +
                      want.length + ' ' + want.slice(0, 3).join(','));
    }
  }

  await step('library: 300 lessons, newest first, paged', async () => {
    await page.goto(BASE + '/recordings.html?to=2025-12-31');
    const all = EXPECT.all;
    await waitRows(all.slice(0, 50));
    check(await total() === 300, 'library: 300 lessons in 2025 (' + await total() + ')');
    check(/1–50 of 300/.test(await page.textContent('#page-info')), 'library: the pager says 1–50 of 300');
    check(await page.$eval('#page-prev', (b) => b.disabled), 'library: no previous page on the first');
    await page.screenshot({ path: path.join(process.env.SHOTS, 'recordings-library.png') });
    let seen = [];
    seen = seen.concat(await ids());
    for (let p = 1; p < 6; p++) {
      await page.click('#page-next');
      await waitRows(all.slice(50 * p, 50 * p + 50));
      seen = seen.concat(await ids());
    }
    check(JSON.stringify(seen) === JSON.stringify(all), 'library: six pages of 50 give every lesson in order');
    check(await page.$eval('#page-next', (b) => b.disabled), 'library: no next page after the last');
    check(/offset=250/.test(page.url()), 'library: the page is kept in the address (' + page.url() + ')');
  });

  await step('library: search, sort, filter through the form', async () => {
    await page.goto(BASE + '/recordings.html?to=2025-12-31');
    await waitRows(EXPECT.all.slice(0, 50));
    await page.fill('#search', 'optics');
    await page.selectOption('#f-sort', 'title');
    await page.click('#search-button');
    await waitRows(EXPECT.optics_title.slice(0, 50));
    check(await total() === EXPECT.optics_title.length, 'library: search "optics" sorted by title: ' + EXPECT.optics_title.length + ' lessons in Python\'s order');
    await page.fill('#search', '');
    await page.selectOption('#f-sort', '-duration_s');
    await page.selectOption('#f-type', 'open');
    await page.selectOption('#f-upload', 'failed');
    await page.selectOption('#f-limit', '25');
    await waitRows(EXPECT.open_failed_longest.slice(0, 25));
    check(await total() === EXPECT.open_failed_longest.length, 'library: open lessons whose upload failed, longest first: ' + EXPECT.open_failed_longest.length);
    await page.click('#clear-filters');
    await page.fill('#f-from', '2025-03-01');
    await page.fill('#f-to', '2025-03-31');
    await page.fill('#f-subject', '数学');
    await page.selectOption('#f-sort', 'teacher');
    await page.click('#search-button');
    await waitRows(EXPECT.march_maths_teacher.slice(0, 50));
    check(await total() === EXPECT.march_maths_teacher.length, 'library: 数学 in March 2025 by teacher: ' + EXPECT.march_maths_teacher.length);
    await page.click('#clear-filters');
    await page.selectOption('#f-status', 'interrupted');
    await page.fill('#f-to', '2025-12-31');
    await page.selectOption('#f-sort', 'started_at');
    await waitRows(EXPECT.interrupted_oldest.slice(0, 25));    // the page size is no filter: still 25
    check(await total() === EXPECT.interrupted_oldest.length, 'library: interrupted, oldest first: ' + EXPECT.interrupted_oldest.length);
  });

  await step('library: every file of a lesson downloads; the mic decodes; the player closes', async () => {
    await page.goto(BASE + '/recordings.html?q=' + encodeURIComponent(EXPECT.mic_title));
    await page.waitForSelector('#list tbody tr[data-id="' + process.env.MIC + '"]');
    await page.click('#list tbody tr[data-id="' + process.env.MIC + '"] button.files');
    await page.waitForSelector('#detail[open] #detail-files');
    const paths = await page.$$eval('#detail-files tbody tr', (rs) => rs.map((r) => r.dataset.path));
    check(JSON.stringify(paths) === JSON.stringify(['lesson.json', 'audio/lapel.m4a']), 'library: the lesson\'s files: ' + paths.join(' '));
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.click('#detail-files tr[data-path="audio/lapel.m4a"] a.file-download'),
    ]);
    const saved = path.join(process.env.TMP, 'lapel.m4a');
    await download.saveAs(saved);
    const probe = JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name,sample_rate',
      '-of', 'json', saved]).toString());
    check(download.suggestedFilename() === process.env.MIC + '-audio-lapel.m4a' &&
          JSON.stringify(probe.streams) === JSON.stringify([{ codec_name: 'aac', sample_rate: '48000' }]),
          'library: the mic file downloads (' + download.suggestedFilename() + ') and decodes: ' + JSON.stringify(probe.streams));
    await page.screenshot({ path: path.join(process.env.SHOTS, 'recordings-files.png') });
    await page.click('#detail-files tr[data-path="audio/lapel.m4a"] button.play');
    await page.waitForSelector('#player:not(.hidden)');
    await page.waitForFunction(() => document.getElementById('video').currentTime > 0.2, null, { timeout: 30000 });
    check(true, 'library: the mic plays in the player');
    await page.click('#player-close');
    await page.waitForSelector('#player.hidden', { state: 'attached' });
    const v = await page.$eval('#video', (e) => ({ paused: e.paused, src: e.getAttribute('src') }));
    check(v.paused && !v.src, 'library: the player closes (hidden, stopped, no source)');
  });

  await step('library: the edit dialog has a heading; upload state and retry per lesson', async () => {
    await page.goto(BASE + '/recordings.html?upload=failed&to=2025-12-31&sort=title');
    const first = EXPECT.failed_title[0];
    await page.waitForSelector('#list tbody tr[data-id="' + first + '"]');
    const row = '#list tbody tr[data-id="' + first + '"]';
    await page.click(row + ' button.edit');
    await page.waitForSelector('#edit[open]');
    check(await page.isVisible('#edit-heading') && (await page.textContent('#edit-heading')).length > 5,
          'library: the edit dialog has a heading (' + await page.textContent('#edit-heading') + ')');
    await page.click('#edit button[value="cancel"]');
    await page.waitForSelector('#edit:not([open])', { state: 'attached' });
    check(/^failed/.test(await page.textContent(row + ' .upload-state')) &&
          (await page.textContent(row + ' button.upload')) === 'Retry upload', 'library: a failed upload shows its state and a retry');
    await page.click(row + ' button.upload');
    await page.waitForFunction((id) => !document.querySelector('#list tbody tr[data-id="' + id + '"]'), first);
    const r = await call(page, 'GET', '/api/v1/recordings/' + first);
    check(r.data.upload && r.data.upload.state === 'queued', 'library: the retry queued it again (gone from the failed filter)');
  });

  check(errors.length === 0, 'no script errors' + (errors.length ? ': ' + errors.join('; ') : ''));
  await browser.close();
  finish();
})().catch((e) => { console.error(e); process.exit(1); });
