// Issue #20 item 3 in the browser: a real lesson's shots in the library's
// player (RECUT_ID, recorded by run_browser.py into DATA): select a range in
// the strip by dragging, change the camera, preview it, run the re-cut (its
// progress in the page), play the new version and choose it for upload.
'use strict';
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');
const { check, step, launch, finish } = require('./lib.js');

const BASE = process.env.BASE;
const ID = process.env.RECUT_ID;

(async () => {
  const ctx = await launch({ autoplay: true, viewport: { width: 1280, height: 1000 } });
  const page = ctx.pages()[0] || await ctx.newPage();
  const api = (method, url, body) => page.evaluate(async ([m, u, b]) => {
    const r = await LB.api(u, { method: m, body: b });
    return { status: r.status, data: r.data };
  }, [method, url, body]);

  await step('recut: select a range in the timeline, change the shot, run the re-cut, play the new version', async () => {
    await page.goto(BASE + '/index.html');
    await page.waitForSelector('#login:not(.hidden)');
    await page.fill('#user', 'admin');
    await page.fill('#password', process.env.PASSWORD);
    await page.click('#login-button');
    await page.waitForURL((u) => !/index\.html/.test(String(u)));
    await page.goto(BASE + '/recordings.html');
    await page.click('#list tbody tr[data-id="' + ID + '"] button.play');
    await page.waitForSelector('#shot-strip .shot');
    const shots = await page.$$eval('#shot-strip .shot', (els) => els.map((e) => ({
      start: Number(e.dataset.start), end: Number(e.dataset.end), source: e.dataset.source, title: e.title })));
    const log = fs.readFileSync(path.join(process.env.DATA, ID, 'director.jsonl'), 'utf8').trim().split('\n')
      .map((l) => JSON.parse(l)).filter((d) => !d.pan);
    check(shots.length === log.length && shots.every((s, i) => s.start === log[i].t && s.source === log[i].sources[0] &&
          s.title.includes(log[i].sources[0])), 'recut: the strip has one block per decision (' + shots.length +
          '), each titled with its camera and reason: ' + shots[0].title);
    const legend = await page.$$eval('.shot-legend span', (els) => els.map((e) => e.textContent));
    check(legend.length === 4, 'recut: the legend names the cameras: ' + legend.join(' '));
    // drag from 30 % to 70 % of the strip
    // an instant scroll ends the player's smooth one: the strip stays where it is measured
    const box = await page.$eval('#shot-strip', (e) => {
      e.scrollIntoView({ block: 'center' });
      const b = e.getBoundingClientRect();
      return { x: b.left, y: b.top, w: b.width, h: b.height };
    });
    await page.mouse.move(box.x + box.w * 0.3, box.y + box.h / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.w * 0.5, box.y + box.h / 2, { steps: 4 });
    await page.mouse.move(box.x + box.w * 0.7, box.y + box.h / 2, { steps: 4 });
    await page.mouse.up();
    const dur = shots[shots.length - 1].end;
    const range = await page.$eval('#recut-range', (e) => e.textContent);
    const sel = await page.$eval('.shot-selection', (e) => ({ hidden: e.classList.contains('hidden'), left: parseFloat(e.style.left), width: parseFloat(e.style.width) }));
    check(!sel.hidden && Math.abs(sel.left - 30) < 2 && Math.abs(sel.width - 40) < 2,
          'recut: the dragged range is shown (' + range + ', ' + sel.left.toFixed(1) + '% + ' + sel.width.toFixed(1) + '%)');
    const from = dur * sel.left / 100, to = from + dur * sel.width / 100;
    const onScreen = new Set(shots.filter((s) => s.end > from && s.start < to).map((s) => s.source));
    const cam = ['board', 'students', 'screen', 'teacher'].find((c) => !onScreen.has(c));
    await page.selectOption('#recut-shot', cam);
    await page.click('#recut-preview');
    await page.waitForFunction(([c, f]) => document.getElementById('file').value === 'iso/' + c + '.mp4' &&
      document.getElementById('video').currentTime > f + 0.1, [cam, from], { timeout: 30000 });
    check(true, 'recut: the preview plays iso/' + cam + '.mp4 from the range\'s start (' + from.toFixed(2) + ' s)');
    await page.click('#recut-run');
    await page.waitForSelector('.recut-version[data-file^="program.recut-"]', { timeout: 120000 });
    const st = await api('GET', '/api/v1/recordings/' + ID + '/recut');
    const msg = await page.$eval('#recut-msg', (e) => e.textContent);
    check(st.status === 200 && st.data.state === 'done' && st.data.percent === 100 && msg.includes(st.data.file),
          'recut: done, said in the page: ' + msg);
    const file = st.data.file;
    const n = /recut-(\d+)/.exec(file)[1];
    const edited = fs.readFileSync(path.join(process.env.DATA, ID, 'director.recut-' + n + '.jsonl'), 'utf8').trim()
      .split('\n').map((l) => JSON.parse(l)).filter((d) => d.t >= from - 0.01 && d.t < to - 0.01);
    check(edited.length === 1 && edited[0].sources[0] === cam, 'recut: the edited log shows ' + cam + ' in the range: ' + JSON.stringify(edited));
    const frames = execFileSync('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries',
      'stream=nb_read_frames', '-of', 'csv=p=0', path.join(process.env.DATA, ID, file)]).toString().trim();
    check(Number(frames) >= 50, 'recut: ' + file + ' decodes (' + frames + ' frames)');
    await page.click('.recut-version[data-file="' + file + '"] button.play');
    await page.waitForFunction((f) => document.getElementById('file').value === f &&
      document.getElementById('video').currentTime > 0.5, file, { timeout: 30000 });
    check(true, 'recut: the new version plays in the player');
    await page.click('.recut-version[data-file="' + file + '"] button.recut-use');
    await page.waitForSelector('.recut-version[data-file="' + file + '"] .recut-chosen');
    const lj = JSON.parse(fs.readFileSync(path.join(process.env.DATA, ID, 'lesson.json'), 'utf8'));
    check(lj.upload_version === file, 'recut: the new version is the one uploaded (lesson.json upload_version ' + lj.upload_version + ')');
    await page.screenshot({ path: path.join(process.env.SHOTS, 'recordings-recut.png'), fullPage: true });
    // the lesson's dialog lists the versions, the chosen one marked, and leads to the player
    await page.click('#player-close');
    await page.click('#list tbody tr[data-id="' + ID + '"] button.files');
    await page.waitForSelector('#detail[open] #detail-versions');
    const rows = await page.$$eval('#detail-versions > div', (els) => els.map((e) => [e.dataset.file, !!e.querySelector('.recut-chosen')]));
    check(JSON.stringify(rows) === JSON.stringify([['program.mp4', false], [file, true]]),
          'recut: the dialog lists the versions, ' + file + ' uploaded: ' + JSON.stringify(rows));
    await page.click('#detail-recut');
    await page.waitForSelector('#player:not(.hidden) #shot-strip .shot');
    check(true, 'recut: the dialog\'s button opens the player with the strip');
  });
  await ctx.close();
  finish();
})();
