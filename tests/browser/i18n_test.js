// Issue 19: every page in English and in Chinese through the header's
// switch, with no visible text left in the other language; the switch kept
// in the user's record (GET /api/v1/me), a bad language refused with its
// code, and a browser that forgot it (no localStorage, no cookies) shown in
// Chinese right after the login; the camera
// labelled 讲台 on its tile; its "no signal" slate saved for run_browser.py
// to compare with renderings.  Runs after ui_test.js against the same
// daemon (admin's password and the lesson it recorded are there).
// Env: BASE, SHOTS, PROFILE, PASSWORD, LABEL (the camera's label), CAMERA (its NAME).
'use strict';
const { check, step, launch, finish } = require('./lib');
const fs = require('fs');
const path = require('path');

const BASE = process.env.BASE;
const SHOTS = process.env.SHOTS;

// The screenshots the READMEs show (the English ones come from ui_test.js).
const SHOOT = new Set(['console-zh', 'teacher-zh', 'recordings-zh', 'users-zh', 'timetable-zh', 'viewer-zh']);

const PAGES = [
  ['console', '/console.html', '#multiview .tile'],
  ['teacher', '/teacher.html', '#record'],
  ['recordings', '/recordings.html', '#list tbody tr'],
  ['timetable', '/timetable.html', '#grid .tg-col'],   // the week grid drawn
  ['viewer', '/viewer.html', '#video'],
  ['users', '/admin.html', '#users tbody tr'],
  ['account', '/account.html', 'header.top nav a'],
];

// Words that stay as they are in Chinese on purpose: the product, protocol
// and unit names, the switch's own "English", and a command in a hint.
const LATIN_OK = new Set(['luobo', 'luo', 'bo' /* the header's luo●bo */, 'HLS', 'SRT', 'RTMP', 'API', 'HTTP', 'HTTPS', 'https', 'PiP', 'English',
  'GB', 'MB', 'KB', 'TB', 'kb', 'ms', 'dB', 'dBFS', 'fps', 'journalctl', 'tls', 'auto', 'webui',
  'mp', 'mp4', 'jpg', 'json', 'xml', 'AM', 'PM']);
// CJK that English pages show on purpose: the switch's own "中文".
const CJK_OK = ['中文'];

/* Every visible text on the page: text nodes in a laid-out, visible
 * element; the chosen option of each select; placeholders; the title. */
function visibleTexts() {
  const out = [];
  const shown = (e) => {
    if (!e) return false;
    const st = getComputedStyle(e);
    if (st.visibility === 'hidden' || st.display === 'none' || Number(st.opacity) === 0) return false;
    const r = e.getBoundingClientRect();
    return r.width > 0 && r.height > 0;
  };
  const where = (e) => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') +
    (typeof e.className === 'string' && e.className ? '.' + e.className.split(' ')[0] : '');
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const text = n.nodeValue.trim();
    const e = n.parentElement;
    if (!text || !e || e.closest('script,style,noscript,select') || !shown(e)) continue;
    out.push({ text, where: where(e) });
  }
  document.querySelectorAll('select').forEach((s) => {
    if (shown(s) && s.selectedOptions[0]) out.push({ text: s.selectedOptions[0].text.trim(), where: where(s) });
  });
  document.querySelectorAll('input[placeholder],textarea[placeholder]').forEach((i) => {
    if (shown(i) && i.placeholder) out.push({ text: i.placeholder, where: where(i) + '[placeholder]' });
  });
  out.push({ text: document.title, where: 'title' });
  return out;
}

/* What the server holds that is data, not UI text: names, labels,
 * lesson metadata, file names, error details of libraries. */
async function dataStrings(page) {
  return page.evaluate(async () => {
    const get = async (p) => { try { const r = await fetch(p); return r.ok ? r.json() : null; } catch (e) { return null; } };
    const out = new Set();
    const add = (v) => { if (typeof v === 'string' && v.trim()) out.add(v.trim()); };
    const st = await get('/api/v1/status');
    if (st) {
      for (const k of ['sources', 'mics', 'outputs']) {
        for (const s of st[k] || []) {
          add(s.name); add(s.label); add(s.last_error);
          if (s.analysis_stream) add(s.analysis_stream.last_error);
        }
      }
    }
    const recs = await get('/api/v1/recordings?limit=1000');
    for (const r of (recs && recs.recordings) || []) {
      for (const k of ['id', 'title', 'teacher', 'course', 'subject', 'grade', 'class', 'school', 'hall']) add(r[k]);
      for (const f of r.files || []) add(f.path);
    }
    const users = await get('/api/v1/users');
    for (const u of users || []) add(u.name);
    return [...out].sort((a, b) => b.length - a.length);
  });
}

function leftovers(texts, data, lang) {
  const bad = [];
  for (const { text, where } of texts) {
    // IP addresses (the sessions' list) are data too
    let rest = (' ' + text + ' ').replace(/(::ffff:)?\d+\.\d+\.\d+\.\d+|[0-9a-f]*::[0-9a-f:]*/gi, ' ');
    for (const d of data) rest = rest.split(d).join(' ');
    if (lang === 'zh') {
      const words = (rest.match(/[A-Za-z][A-Za-z0-9_]+/g) || []).filter((w) => !LATIN_OK.has(w));
      if (words.length) bad.push(where + ': "' + text + '" (' + words.join(', ') + ')');
    } else {
      for (const c of CJK_OK) rest = rest.split(c).join(' ');
      const cjk = rest.match(/[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]+/g);
      if (cjk) bad.push(where + ': "' + text + '" (' + cjk.join(', ') + ')');
    }
  }
  return bad;
}

(async () => {
  const context = await launch({ viewport: { width: 1366, height: 900 }, locale: 'en-US' });
  const page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(20000);
  page.on('dialog', (d) => d.accept());
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  // every request answered (the favicon was a 404 on every page)
  const missing = [];
  page.on('response', (r) => {
    if (r.status() === 404 && !r.url().includes('/api/')) missing.push(r.url());
  });

  await step('sign in (English, from the browser)', async () => {
    await page.goto(BASE + '/index.html');
    await page.waitForSelector('#login:not(.hidden)');
    check(await page.title() === 'luobo · sign in', 'login page: its own title (' + await page.title() + ')');
    check(await page.textContent('#login h1') === 'Sign in', 'en-US browser: English by default');
    await page.fill('#user', 'admin');
    await page.fill('#password', process.env.PASSWORD);
    await page.click('#login-button');
    await page.waitForURL(/console\.html/);
  });

  await step('switch to Chinese on the console without a reload', async () => {
    await page.waitForSelector('#multiview .tile');
    await page.evaluate(() => { window.notReloaded = true; });
    await page.click('header.top .lang-switch button[data-lang="zh"]');
    await page.waitForFunction(() => document.querySelector('header.top nav a.here').textContent === '导播台');
    check(await page.evaluate(() => window.notReloaded === true), 'switch: the page re-rendered, no reload');
    check(await page.evaluate(() => document.documentElement.lang) === 'zh-CN', 'switch: <html lang="zh-CN">');
    check(await page.title() === 'luobo · 导播台', 'switch: the title follows (' + await page.title() + ')');
    const kept = await page.evaluate(() => [localStorage.getItem('lb_lang'), /(^|; )lb_lang=zh/.test(document.cookie)]);
    check(kept[0] === 'zh' && kept[1], 'switch: remembered in localStorage and a cookie');
    await page.waitForFunction(() => [...document.querySelectorAll('#sources tbody .badge')].some((b) => b.textContent === '正常'));
    check(true, 'switch: the sources\' states re-rendered (live → 正常)');
  });

  await step('the language follows the user to any browser', async () => {
    const me = await page.evaluate(async () => (await LB.api('/api/v1/me')).data);
    check(me && me.lang === 'zh', 'the switch is kept in the user\'s record (' + JSON.stringify(me) + ')');
    const bad = await page.evaluate(async () => LB.api('/api/v1/me', { method: 'PUT', body: { lang: 'fr' } }));
    check(bad.status === 400 && bad.data.code === 'lang_invalid', 'PUT /api/v1/me {"lang":"fr"}: 400 lang_invalid (' +
      bad.status + ' ' + JSON.stringify(bad.data) + ')');
    // another browser: nothing remembered here, the session gone with the cookies
    await page.evaluate(() => localStorage.removeItem('lb_lang'));
    await page.context().clearCookies();
    await page.goto(BASE + '/index.html');
    await page.waitForSelector('#login:not(.hidden)');
    check(await page.textContent('#login h1') === 'Sign in', 'a browser that forgot: English before the login');
    await page.fill('#user', 'admin');
    await page.fill('#password', process.env.PASSWORD);
    await page.click('#login-button');
    await page.waitForURL(/console\.html/);
    await page.waitForFunction(() => document.querySelector('header.top nav a.here') &&
      document.querySelector('header.top nav a.here').textContent === '导播台');
    check(await page.evaluate(() => document.documentElement.lang === 'zh-CN' && localStorage.getItem('lb_lang') === 'zh'),
      'after the login: Chinese, from the user\'s record');
  });

  await step('the camera labelled ' + process.env.LABEL + ' on its tile', async () => {
    const sel = '#multiview .tile[data-source="' + process.env.CAMERA + '"]';
    await page.waitForSelector(sel);
    const label = await page.textContent(sel + ' .label');
    check(label.includes(process.env.LABEL), 'tile of ' + process.env.CAMERA + ' says ' + process.env.LABEL + ' (' + label + ')');
    // the slate the daemon draws while it gives no picture, as the console gets it
    await page.waitForFunction((s) => document.querySelector(s + ' img').naturalWidth > 0, sel);
    const r = await page.request.get(BASE + '/api/v1/sources/' + encodeURIComponent(process.env.CAMERA) + '/snapshot.jpg');
    check(r.ok(), 'the camera\'s snapshot (its slate): HTTP ' + r.status());
    if (r.ok()) fs.writeFileSync(path.join(SHOTS, 'slate-' + process.env.CAMERA + '.jpg'), await r.body());
  });

  const data = await dataStrings(page);
  for (const lang of ['zh', 'en']) {
    for (const [name, url, ready] of PAGES) {
      await step(lang + ': ' + name, async () => {
        await page.goto(BASE + url);
        await page.waitForSelector(ready, { state: 'attached' });
        if (lang === 'en' && name === 'console') {
          // the way back, on the first page of the second round
          await page.click('header.top .lang-switch button[data-lang="en"]');
          await page.waitForFunction(() => document.querySelector('header.top nav a.here').textContent === 'Console');
        }
        await page.waitForFunction((l) => document.documentElement.lang === (l === 'zh' ? 'zh-CN' : 'en') &&
          document.querySelector('header.top nav a'), lang);
        // what the page draws from the API and the events socket is there
        if (name === 'console') await page.waitForSelector('#sources tbody tr');
        const title = await page.title();
        check(lang === 'zh' ? /[\u4e00-\u9fff]/.test(title) : !/[\u4e00-\u9fff]/.test(title),
          lang + ': ' + name + ': title ' + title);
        const bad = leftovers(await page.evaluate(visibleTexts), data, lang);
        check(bad.length === 0, lang + ': ' + name + ': no text in the other language' +
          (bad.length ? ': ' + bad.slice(0, 8).join(' | ') : ''));
        if (SHOOT.has(name + '-' + lang)) await page.screenshot({ path: path.join(SHOTS, name + '-' + lang + '.png'), fullPage: true });
      });
    }
  }

  await step('a server error in Chinese (by its code)', async () => {
    await page.click('header.top .lang-switch button[data-lang="zh"]');
    await page.goto(BASE + '/admin.html');
    await page.waitForSelector('#users tbody tr');
    const e = await page.evaluate(async () => LB.errText(await LB.api('/api/v1/users', { method: 'POST',
      body: { user: 'admin', password: 'another pw 1', role: 'viewer' } })));
    check(e === '用户“admin”已存在。', 'duplicate user: the error in Chinese with its parameter (' + e + ')');
  });

  await step('the login page in Chinese', async () => {
    await page.click('#logout');
    await page.waitForSelector('#login:not(.hidden)');
    const bad = leftovers(await page.evaluate(visibleTexts), data, 'zh');
    check(bad.length === 0, 'zh: login: no text in the other language' + (bad.length ? ': ' + bad.join(' | ') : ''));
    check(await page.title() === 'luobo · 登录', 'zh: login: title');
    await page.screenshot({ path: path.join(SHOTS, 'login-zh.png'), fullPage: true });
  });

  check(missing.length === 0, 'no 404 for the pages\' files (favicon)' + (missing.length ? ': ' + missing.join(' ') : ''));
  check(errors.length === 0, 'no script errors' + (errors.length ? ': ' + errors.join('; ') : ''));
  await context.close();
  finish();
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
