// The web UI in a real browser: playwright-core driving Debian's Chromium.
// Env: BASE (http://127.0.0.1:port), SHOTS (screenshot folder), PROFILE
// (a fresh user-data-dir), LIVE (1 when a live HLS stream is running).
'use strict';
const { chromium } = require('playwright-core');
const path = require('path');

const BASE = process.env.BASE;
const SHOTS = process.env.SHOTS;
const PASSWORD = 'first run pw 1';
const failures = [];

function check(cond, what) {
  console.log((cond ? 'ok   ' : 'FAIL ') + what);
  if (!cond) failures.push(what);
  return cond;
}

async function step(what, fn) {
  try {
    await fn();
  } catch (e) {
    check(false, what + ': ' + String(e).split('\n')[0]);
  }
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(SHOTS, name + '.png'), fullPage: true });
}

(async () => {
  const context = await chromium.launchPersistentContext(process.env.PROFILE, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1366, height: 900 },
    locale: 'en-US',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync',
           '--autoplay-policy=no-user-gesture-required'],
  });
  const page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(20000);
  page.on('dialog', (d) => d.accept());
  const consoleErrors = [];
  page.on('pageerror', (e) => consoleErrors.push(String(e)));

  await step('first run: set the admin password', async () => {
    await page.goto(BASE + '/');
    await page.waitForSelector('#setup:not(.hidden)');
    const code = process.env.SETUP_CODE;
    await page.fill('#setup-code', code);
    await shot(page, 'first-run');
    await page.fill('#setup-password', PASSWORD);
    await page.fill('#setup-password2', PASSWORD);
    await page.click('#setup-button');
    await page.waitForURL(/console\.html/);
    check(true, 'first run: admin password set, console opened');
  });

  await step('log out and log in', async () => {
    await page.click('#logout');
    await page.waitForSelector('#login:not(.hidden)');
    await page.fill('#user', 'admin');
    await page.fill('#password', 'wrong password');
    await page.click('#login-button');
    await page.waitForFunction(() => document.getElementById('login-error').textContent.length > 0);
    check(true, 'login: a wrong password shows an error');
    await page.fill('#password', PASSWORD);
    await shot(page, 'login');
    await page.click('#login-button');
    await page.waitForURL(/console\.html/);
    check(true, 'login: admin reaches the console');
  });

  await step('console: tally follows the director in manual mode', async () => {
    await page.waitForFunction(() => document.querySelectorAll('#multiview .tile').length >= 2);
    await page.waitForFunction(() => document.querySelector('#multiview .tile.program'));
    const before = await page.$eval('#multiview .tile.program', (e) => e.dataset.source);
    check(!!before, 'console: a camera has tally (' + before + ')');
    const other = await page.$$eval('#multiview .tile', (ts, b) =>
      ts.map((t) => t.dataset.source).find((n) => n !== b), before);
    await page.click('#modes button[data-mode="manual"]');
    await page.waitForFunction(() => document.querySelector('#modes button[data-mode="manual"]').classList.contains('on'));
    // one camera alone: manual mode keeps the automatic director's last
    // layout, and a PiP would keep the old camera's tally as its inset
    await page.click('#layouts button[data-layout="single"]');
    await page.waitForFunction(() => document.querySelector('#layouts button[data-layout="single"]').classList.contains('on'));
    // The program preview (a JPEG of the program's latest picture) must
    // show the take soon: its mean colour against the two cameras'
    // snapshots, sampled as often as the page paints.  Reported, not
    // asserted (the machine is shared); #17 item 7's goal is 0.5 s.
    const tileImg = (n) => '#multiview .tile[data-source="' + n + '"] img';
    await page.waitForFunction(([a, b]) => [a, b].every((s) => {
      const i = document.querySelector(s);
      return i && i.naturalWidth > 0;
    }) && document.getElementById('program').naturalWidth > 0, [tileImg(before), tileImg(other)]);
    await page.evaluate(([a, b]) => {
      window.meanColour = (img) => {
        const c = document.createElement('canvas');
        c.width = 16; c.height = 9;
        const g = c.getContext('2d');
        g.drawImage(img, 0, 0, 16, 9);
        const d = g.getImageData(0, 0, 16, 9).data;
        const m = [0, 0, 0];
        for (let i = 0; i < d.length; i += 4) { m[0] += d[i]; m[1] += d[i + 1]; m[2] += d[i + 2]; }
        return m.map((x) => x / (d.length / 4));
      };
      window.previewRefs = { a: window.meanColour(document.querySelector(a)),
                             b: window.meanColour(document.querySelector(b)) };
      window.previewShows = () => {
        const dist = (x, y) => Math.hypot(x[0] - y[0], x[1] - y[1], x[2] - y[2]);
        const p = window.meanColour(document.getElementById('program'));
        return dist(p, window.previewRefs.b) < dist(p, window.previewRefs.a);
      };
    }, [tileImg(before), tileImg(other)]);
    const snapTimes = [];
    page.on('response', (r) => {
      if (r.url().includes('/sources/program/snapshot.jpg')) snapTimes.push(Date.now());
    });
    await page.waitForFunction(() => !window.previewShows(), null, { polling: 'raf' });
    check(true, 'console: the program preview shows ' + before + ' before the take');
    const takeAt = Date.now();
    await page.click('#shots button[data-shot="' + other + '"]');
    await page.waitForFunction((o) => {
      const t = document.querySelector('#multiview .tile[data-source="' + o + '"]');
      return t && t.classList.contains('program');
    }, other);
    const now = await page.$$eval('#multiview .tile.program', (ts) => ts.map((t) => t.dataset.source));
    check(now[0] === other && !now.includes(before), 'console: tally moved from ' + before + ' to ' + other);
    await page.waitForFunction(() => window.previewShows(), null, { polling: 'raf' });
    const previewMs = [Date.now() - takeAt];
    check(true, 'console: the program preview shows ' + other + ' after the take');
    // two more takes, back and forth, for the figure
    for (const [to, ref] of [[before, 'a'], [other, 'b']]) {
      const at = Date.now();
      await page.click('#shots button[data-shot="' + to + '"]');
      await page.waitForFunction((r) => {
        const dist = (x, y) => Math.hypot(x[0] - y[0], x[1] - y[1], x[2] - y[2]);
        const p = window.meanColour(document.getElementById('program'));
        const o = r === 'a' ? 'b' : 'a';
        return dist(p, window.previewRefs[r]) < dist(p, window.previewRefs[o]);
      }, ref, { polling: 'raf' });
      previewMs.push(Date.now() - at);
    }
    console.log('MEASURED take -> program preview ' + previewMs.join(', ') + ' ms (goal 500; ' +
                'program snapshots answered ' + snapTimes.slice(0, 4).map((x) => x - takeAt).join(' ') +
                ' ms after the first take)');
    // thumbnails arrived
    await page.waitForFunction(() => [...document.querySelectorAll('#multiview img')].every((i) => i.naturalWidth > 0));
    check(true, 'console: every camera shows a snapshot');
    await page.waitForFunction(() => document.querySelectorAll('#meters .meter').length >= 2);
    check(true, 'console: audio meters move');
    await page.click('#layouts button[data-layout="pip"]');
    await page.waitForFunction(() => document.querySelector('#layouts button[data-layout="pip"]').classList.contains('on'));
    await shot(page, 'console');
    await page.click('#modes button[data-mode="auto"]');
    await page.waitForFunction(() => document.querySelector('#modes button[data-mode="auto"]').classList.contains('on'));
    check(true, 'console: back to auto');
  });

  const title = 'Optics: refraction and lenses';
  await step('teacher: record, timer runs, stop', async () => {
    await page.goto(BASE + '/teacher.html');
    await page.waitForSelector('#record');
    await page.fill('#title', title);
    await page.fill('#course', 'Physics');
    await page.fill('#teacher', 'Ms Li');
    // the metadata the platform files the lesson under, set before recording
    await page.fill('#subject', '物理');
    await page.selectOption('#lesson_type', 'open');
    await page.fill('#grade', '初二');
    await page.fill('#class', '3班');
    await page.click('#record');
    await page.waitForFunction(() => document.body.classList.contains('recording'));
    check(true, 'teacher: the page turns red while recording');
    await page.waitForFunction(() => Number(document.getElementById('timer').dataset.seconds) >= 3,
                               null, { timeout: 60000 });
    check(true, 'teacher: the timer runs');
    await shot(page, 'teacher');
    await page.setViewportSize({ width: 390, height: 844 });
    await shot(page, 'teacher-phone');
    await page.setViewportSize({ width: 1366, height: 900 });
    await page.click('#record');
    await page.waitForFunction(() => !document.body.classList.contains('recording'), null, { timeout: 60000 });
    check(true, 'teacher: stop');
  });

  // The daemon finalises a file after stop (fast start): reload until done.
  async function waitComplete(text) {
    const row = page.locator('#list tbody tr', { hasText: text });
    let status = '';
    for (let i = 0; i < 120 && status !== 'complete'; i++) {
      if (i) await page.waitForTimeout(500);
      await page.goto(BASE + '/recordings.html');
      await page.waitForSelector('#list tbody tr, #empty:not(.hidden)');
      if (await row.count()) status = await row.first().locator('.badge').textContent();
    }
    return { row, status };
  }

  await step('recordings: the lesson is listed and plays', async () => {
    const { row, status } = await waitComplete(title);
    check(await row.count() > 0, 'recordings: the new lesson is listed');
    check(status === 'complete', 'recordings: status complete (' + status + ')');
    await row.first().locator('button.play').click();
    await page.waitForFunction(() => document.getElementById('video').currentTime > 1.0, null,
                               { timeout: 60000 });
    check(true, 'recordings: the program plays (currentTime advances)');
    const seekable = await page.$eval('#video', (v) => { v.currentTime = 0.5; return v.seekable.length; });
    check(seekable > 0, 'recordings: the video is seekable (Range)');
    await shot(page, 'recordings');
  });

  await step('console: record and stop from the console', async () => {
    await waitComplete(title);              // the daemon is idle again
    await page.goto(BASE + '/console.html');
    await page.waitForFunction(() => document.getElementById('rec-state').textContent.length > 0);
    await page.click('#rec-button');
    await page.waitForFunction(() => document.body.classList.contains('recording'), null, { timeout: 60000 });
    check(true, 'console: recording shows the red banner');
    await page.waitForFunction(() => /00:00:0[2-9]|00:00:[1-5]/.test(document.getElementById('rec-time').textContent),
                               null, { timeout: 60000 });
    await page.click('#rec-button');
    await page.waitForFunction(() => !document.body.classList.contains('recording'), null, { timeout: 60000 });
    check(true, 'console: stop');
  });

  await step('recordings: edit metadata, delete a lesson', async () => {
    const { row } = await waitComplete(title);
    await row.first().locator('button', { hasText: 'Edit' }).click();
    await page.waitForSelector('#edit[open]');
    check(await page.inputValue('#e-subject') === '物理' && await page.inputValue('#e-lesson_type') === 'open' &&
          await page.inputValue('#e-grade') === '初二' && await page.inputValue('#e-class') === '3班',
          'recordings: the teacher page\'s metadata reached the lesson (subject, type, grade, class)');
    await page.fill('#e-course', 'Physics 2');
    await page.selectOption('#e-lesson_type', 'demonstration');
    await page.click('#edit-save');
    await page.waitForFunction((t) => [...document.querySelectorAll('#list tbody tr')]
      .some((r) => r.textContent.includes(t) && r.textContent.includes('Physics 2')), title);
    check(true, 'recordings: the course was edited');
    const edited = await page.evaluate(async (t) => {
      const r = await fetch('/api/v1/recordings?q=' + encodeURIComponent(t));
      return (await r.json()).recordings[0];
    }, title);
    check(edited && edited.lesson_type === 'demonstration' && edited.subject === '物理',
          'recordings: the edit form changed the lesson type (' + (edited && edited.lesson_type) + ')');
    const other = await waitComplete('Lesson');
    check(other.status === 'complete', 'recordings: the console lesson is complete');
    const before = await page.locator('#list tbody tr').count();
    await other.row.first().locator('button.danger').click();     // confirm() is accepted
    await page.waitForFunction((n) => document.querySelectorAll('#list tbody tr').length === n - 1, before);
    check(await page.locator('#list tbody tr', { hasText: title }).count() === 1,
          'recordings: admin deleted the other lesson, this one stays');
  });

  if (process.env.LIVE === '1') {
    await step('viewer: the live program plays through hls.js', async () => {
      await page.goto(BASE + '/viewer.html');
      const hls = await page.evaluate(() => !!(window.Hls && window.Hls.isSupported()));
      check(hls, 'viewer: hls.js is loaded and supported');
      await page.waitForFunction(() => document.getElementById('video').currentTime > 1.0, null,
                                 { timeout: 60000 });
      const t1 = await page.$eval('#video', (v) => v.currentTime);
      await page.waitForFunction((t) => document.getElementById('video').currentTime > t + 1.0, t1,
                                 { timeout: 60000 });
      check(true, 'viewer: live currentTime advances');
      check(await page.$eval('#dot', (d) => d.classList.contains('on')), 'viewer: shows "Live" while playing');
      await shot(page, 'viewer');
    });
  }

  await step('users: admin adds a teacher, who only gets the teacher page', async () => {
    await page.goto(BASE + '/admin.html');
    await page.waitForSelector('#users tbody tr');
    await page.fill('#u-name', 'teacher1');
    await page.fill('#u-password', 'teacher pw 1');
    await page.selectOption('#u-role', 'teacher');
    await page.click('#add-user button');
    await page.waitForFunction(() => [...document.querySelectorAll('#users tbody tr')].some((r) => r.textContent.includes('teacher1')));
    check(true, 'users: teacher1 created');
    await shot(page, 'users');
    await page.click('#logout');
    await page.waitForSelector('#login:not(.hidden)');
    await page.fill('#user', 'teacher1');
    await page.fill('#password', 'teacher pw 1');
    await page.click('#login-button');
    await page.waitForURL(/teacher\.html/);
    check(true, 'users: the teacher lands on the teacher page');
    const links = await page.$$eval('header nav a', (as) => as.map((a) => a.getAttribute('href')));
    check(!links.includes('/console.html') && !links.includes('/recordings.html'),
          'users: the teacher has no console or recordings links (' + links.join(' ') + ')');
    await page.goto(BASE + '/console.html');
    await page.waitForURL(/teacher\.html/);
    check(true, 'users: the console sends a teacher back to the teacher page');
  });

  await step('language: Chinese browsers get Chinese', async () => {
    const p2 = await context.newPage();
    await p2.addInitScript(() => Object.defineProperty(navigator, 'language', { get: () => 'zh-CN' }));
    await p2.context().clearCookies();
    await p2.goto(BASE + '/index.html');
    await p2.waitForSelector('#login:not(.hidden)');
    const h = await p2.textContent('#login h1');
    check(h === '登录', 'language: zh-CN shows 登录 (' + h + ')');
    await shot(p2, 'login-zh');
    await p2.close();
  });

  check(consoleErrors.length === 0, 'no script errors' + (consoleErrors.length ? ': ' + consoleErrors.join('; ') : ''));
  await context.close();
  if (failures.length) {
    console.log(failures.length + ' check(s) failed');
    process.exit(1);
  }
  console.log('all checks passed');
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
