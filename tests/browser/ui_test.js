// The web UI in a real browser: playwright-core driving Debian's Chromium.
// Env: BASE (http://127.0.0.1:port), SHOTS (screenshot folder), PROFILE
// (a fresh user-data-dir), LIVE (1 when a live HLS stream is running);
// against the real daemon also DAEMON=1, LUOBO_PID (stopped and continued
// for the overload indicator) and MARKS (a JSON file for run_browser.py:
// the console lesson's title and when its mics were muted).
'use strict';
const { check, step, eventually, launch, finish } = require('./lib');
const path = require('path');

const BASE = process.env.BASE;
const SHOTS = process.env.SHOTS;
const PASSWORD = 'first run pw 1';
const DAEMON = process.env.DAEMON === '1';

async function shot(page, name) {
  await page.screenshot({ path: path.join(SHOTS, name + '.png'), fullPage: true });
}

(async () => {
  const context = await launch({ viewport: { width: 1366, height: 900 }, locale: 'en-US', autoplay: true });
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
    check((await page.textContent('#viewer-hint')).length > 20, 'login: a hint for viewers');
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

  // #19 item 3: the director's own shot (outlined) against the operator's
  // (filled), and the take-over said before and after the click.
  await step('console: auto mode shows the director\'s shot, a click takes over', async () => {
    await page.click('#modes button[data-mode="auto"]');     // (whatever the step before left)
    await page.waitForFunction(() => document.querySelectorAll('#shots button.auto-on').length === 1 &&
      document.querySelectorAll('#layouts button.auto-on').length === 1);
    const filled = await page.$$eval('#shots button.on, #layouts button.on', (bs) => bs.length);
    const hint = await page.textContent('#take-hint');
    check(filled === 0 && /switches to manual/.test(hint),
      'console: auto mode outlines the director\'s shot and layout, none filled (' + hint + ')');
    const style = await page.$eval('#shots button.auto-on', (b) => getComputedStyle(b).borderStyle);
    check(style === 'dashed', 'console: the director\'s choice is drawn dashed (' + style + ')');
    const current = await page.$eval('#shots button.auto-on', (b) => b.dataset.shot);
    const other = await page.$$eval('#shots button', (bs, c) => bs.map((b) => b.dataset.shot).find((n) => n !== c), current);
    await page.click('#shots button[data-shot="' + other + '"]');
    await page.waitForFunction((o) => document.querySelector('#modes button[data-mode="manual"]').classList.contains('on') &&
      document.querySelector('#shots button[data-shot="' + o + '"]').classList.contains('on'), other);
    await eventually('console: the click took over, said so, and the operator\'s shot is filled', async () => {
      const note = await page.textContent('#take-hint');
      return { ok: /Switched to manual/.test(note) && !(await page.$('#shots button.auto-on')), text: note };
    });
    await page.click('#modes button[data-mode="auto"]');
    await page.waitForFunction(() => document.querySelector('#modes button[data-mode="auto"]').classList.contains('on'));
  });

  // #19 item 3: no panel overlaps another at 1024, 1280 and 1400 px, and
  // at 1400x900 the audio meters and the disk are above the fold.
  await step('console: layout at 1024, 1280 and 1400 px', async () => {
    for (const [w, h] of [[1024, 768], [1280, 800], [1400, 900]]) {
      await page.setViewportSize({ width: w, height: h });
      await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
      const r = await page.evaluate(() => {
        const box = (e) => { const b = e.getBoundingClientRect(); return { l: b.left, t: b.top, r: b.right, b: b.bottom, id: e.id || e.querySelector('h2').textContent }; };
        const panels = [...document.querySelectorAll('main.console section.panel')].map(box);
        const overlaps = [];
        for (let i = 0; i < panels.length; i++) for (let j = i + 1; j < panels.length; j++) {
          const a = panels[i], b = panels[j];
          if (Math.min(a.r, b.r) - Math.max(a.l, b.l) > 1 && Math.min(a.b, b.b) - Math.max(a.t, b.t) > 1) overlaps.push(a.id + '/' + b.id);
        }
        // what a panel holds stays inside it (a wide table scrolls within)
        const spills = [...document.querySelectorAll('main.console section.panel')]
          .filter((p) => p.scrollWidth > p.clientWidth + 1).map((p) => box(p).id);
        const wraps = [...document.querySelectorAll('.table-wrap')].filter((t) => {
          const a = t.getBoundingClientRect(), p = t.closest('section').getBoundingClientRect();
          return a.right > p.right + 1;
        }).length;
        // banners (alerts, overload) push the page down while they are up
        const banners = [...document.querySelectorAll('.alert-banner, .overload-banner, .insecure-banner, .rec-banner')]
          .reduce((n, e) => n + e.getBoundingClientRect().height, 0);
        return { overlaps, spills, wraps, banners, audio: box(document.getElementById('audio-panel')),
                 disk: box(document.getElementById('disk-panel')), page: document.documentElement.scrollWidth };
      });
      check(!r.overlaps.length && !r.spills.length && !r.wraps && r.page <= w,
        'console at ' + w + ' px: no panel overlaps or spills (' + JSON.stringify([r.overlaps, r.spills, r.wraps, r.page]) + ')');
      if (w === 1400)
        check(r.audio.b - r.banners <= h && r.disk.b - r.banners <= h,
          'console at 1400x900: Audio and Disk above the fold (bottoms ' + Math.round(r.audio.b) + ', ' +
          Math.round(r.disk.b) + ' px, with ' + Math.round(r.banners) + ' px of banners)');
      if (w === 1400) await shot(page, 'console-' + w);      // the README's
    }
    await page.setViewportSize({ width: 1366, height: 900 });
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
    await page.waitForFunction(() => {
      const b = document.querySelector('#mic-meter:not([hidden]) .bar');
      return b && Number(b.dataset.dbfs) > -50;
    }, null, { timeout: 30000 });
    check(true, 'teacher: the mic\'s level shows while recording (' +
      await page.$eval('#mic-meter .bar', (b) => b.dataset.dbfs) + ' dBFS)');
    await shot(page, 'teacher');
    await page.setViewportSize({ width: 390, height: 844 });
    await shot(page, 'teacher-phone');
    await page.setViewportSize({ width: 1366, height: 900 });
    await page.click('#record');
    await page.waitForFunction(() => !document.body.classList.contains('recording'), null, { timeout: 60000 });
    check(true, 'teacher: stop');
    const saved = await page.$eval('#saved', (e) => ({ shown: !e.hidden, text: e.textContent, s: Number(e.dataset.seconds) }));
    check(saved.shown && saved.text.includes(title) && saved.s >= 3 && /00:00:0[3-9]|00:00:[1-5]\d/.test(saved.text),
      'teacher: a "saved" confirmation with the title and duration (' + saved.text + ')');
    check(await page.inputValue('#title') === '' && await page.inputValue('#subject') === '',
      'teacher: the fields are reset for the next lesson (no timetable: empty)');
    await shot(page, 'teacher-saved');
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
    // issue #20: a chapter added at the player's time, saved to the lesson; a clip's range
    await page.$eval('#video', (v) => { v.pause(); v.currentTime = 1.5; });
    await page.click('#ch-add');
    await page.locator('.chapter-row .ch-title').last().fill('板书 chapter');
    await page.click('#ch-save');
    await page.waitForFunction(() => [...document.querySelectorAll('#lesson-edit div')]
      .some((d) => /Saved|已保存/.test(d.textContent)), null, { timeout: 30000 });
    const chapters = await page.evaluate(async (t) => {
      const r = await fetch('/api/v1/recordings?q=' + encodeURIComponent(t));
      return (await r.json()).recordings[0].chapters;
    }, title);
    check(chapters.some((c) => c.title === '板书 chapter' && Math.abs(c.t - 1.5) < 0.2),
          'recordings: a chapter added at the player\'s time is in the lesson (' + JSON.stringify(chapters) + ')');
    await page.click('#clip-in');
    await page.$eval('#video', (v) => { v.currentTime = 2.5; });
    await page.waitForFunction(() => Math.abs(document.getElementById('video').currentTime - 2.5) < 0.01);
    await page.click('#clip-out');
    check(/01\.5 – 00:02\.5/.test(await page.textContent('#clip-range')),
          'recordings: the clip\'s in and out come from the player (' + await page.textContent('#clip-range') + ')');
  });

  // #19 item 3: the overload indicator, driven for real: the daemon is
  // stopped (SIGSTOP) for 2 s, so its program falls behind real time by
  // more than max_lag_ms (late ticks, skipped pictures), then continued.
  if (DAEMON) {
    await step('console: the overload indicator', async () => {
      await waitComplete(title);            // the daemon is idle again
      await page.goto(BASE + '/console.html');
      await page.waitForFunction(() => document.querySelectorAll('#meters .meter.mic').length >= 2);
      const before = await page.evaluate(async () => (await (await fetch('/api/v1/status')).json()).program);
      process.kill(Number(process.env.LUOBO_PID), 'SIGSTOP');
      try {
        await new Promise((r) => setTimeout(r, 2000));      // the stall itself (max_lag_ms is 1 s)
      } finally {
        process.kill(Number(process.env.LUOBO_PID), 'SIGCONT');
      }
      // (a busy machine may have been late before: the counts must rise)
      await page.waitForFunction((b) => {
        const o = document.getElementById('overload');
        const m = /(\d+) late, (\d+) skipped/.exec(o.textContent);
        return !o.hidden && m && Number(m[1]) + Number(m[2]) > b.late_frames + b.skipped_frames;
      }, before, { timeout: 30000 });
      const text = await page.textContent('#overload');
      const after = await page.evaluate(async () => (await (await fetch('/api/v1/status')).json()).program);
      check(after.late_frames + after.skipped_frames > before.late_frames + before.skipped_frames && /late/.test(text),
        'console: overload shown at the top once the status reports late frames (' + text + '; late ' +
        before.late_frames + ' -> ' + after.late_frames + ', skipped ' + after.skipped_frames + ')');
      const top = await page.evaluate(() => document.getElementById('overload').getBoundingClientRect().top);
      const mainTop = await page.evaluate(() => document.querySelector('main').getBoundingClientRect().top);
      check(top < mainTop, 'console: the overload banner is at the top, above the panels (' + Math.round(top) + ' px)');
    });
  }

  const consoleTitle = 'Electricity 电学 (console)';
  const marks = { title: consoleTitle };
  const elapsed = () => page.evaluate(async () => (await (await fetch('/api/v1/status')).json()).recording.elapsed_s);
  const micLevels = () => page.$$eval('#meters .meter', (rs) => rs.map((r) => ({
    mic: r.classList.contains('mic'), db: Number(r.dataset.dbfs === undefined ? -120 : r.dataset.dbfs) })));
  await step('console: record with metadata', async () => {
    await waitComplete(title);              // the daemon is idle again
    await page.goto(BASE + '/console.html');
    await page.waitForFunction(() => document.getElementById('rec-state').textContent.length > 0);
    await page.fill('#rec-title', consoleTitle);
    await page.click('#rec-more summary');
    await page.fill('#rec-teacher', 'Mr Zhou');
    await page.fill('#rec-subject', '物理');
    await page.fill('#rec-grade', '初三');
    await page.fill('#rec-class', '2班');
    await page.selectOption('#rec-lesson_type', 'quality');
    await page.uncheck('#rec-live');        // recorded only: the start says "live": false
    await page.click('#rec-button');
    await page.waitForFunction(() => document.body.classList.contains('recording'), null, { timeout: 60000 });
    check(true, 'console: recording shows the red banner');
    await page.waitForFunction(() => /00:00:0[2-9]|00:00:[1-5]/.test(document.getElementById('rec-time').textContent),
                               null, { timeout: 60000 });
    check(await page.$eval('#rec-title', (e) => e.disabled) && (await page.textContent('#rec-state')).includes(consoleTitle),
      'console: the recording row shows the title and a running time (' + await page.textContent('#rec-state') + ')');
  });
  await step('recordings: the lesson being recorded shows a running length', async () => {
    const lib = await context.newPage();
    try {
      await lib.goto(BASE + '/recordings.html');
      await lib.waitForFunction(() => [...document.querySelectorAll('#list .running')]
        .some((e) => /00:00:0[1-9]|00:00:[1-5]\d|00:0[1-9]/.test(e.textContent)), null, { timeout: 60000 });
      check(true, 'recordings: the lesson being recorded shows a running length, not 00:00:00');
    } finally {
      await lib.close();
    }
  });
  await step('console: mute the mics, then unmute', async () => {
    if (DAEMON) {
      // the mics speak; muted, their meters and the program's fall silent
      await page.waitForFunction(() => [...document.querySelectorAll('#meters .meter.mic')]
        .every((r) => Number(r.dataset.dbfs) > -40), null, { timeout: 60000 });
      marks.before_to = await elapsed();
      const bad = await page.evaluate(async () => {
        const rs = [];
        for (const [name, body] of [['teacher', { gain_db: 99 }], ['teacher', { mute: 'yes' }], ['nobody', { mute: true }],
                                    ['teacher', { loud: true }]]) {
          const r = await LB.api('/api/v1/mics/' + name, { method: 'POST', body });
          rs.push(r.status + ' ' + (r.data && r.data.error) + ' [' + (r.data && r.data.code) + ']');
        }
        return rs;
      });
      check(/^400 .*gain_db.*\[mic_gain_invalid\]/.test(bad[0]) && /^400 .*mute.*\[mic_mute_invalid\]/.test(bad[1]) &&
            /^404 .*nobody.*\[mic_unknown\]/.test(bad[2]) && /^400 .*loud.*\[mic_member_unknown\]/.test(bad[3]),
        'mics API: a gain out of range, a bad mute, an unknown mic and member are refused (' + bad.join(' | ') + ')');
      for (const b of await page.$$('#meters .meter.mic .mute')) await b.click();
      await page.waitForFunction(() => [...document.querySelectorAll('#meters .meter')]
        .every((r) => Number(r.dataset.dbfs) < -100) &&
        [...document.querySelectorAll('#meters .meter.mic')].every((r) => r.classList.contains('muted-mic')), null, { timeout: 60000 });
      marks.muted_from = await elapsed();
      check(true, 'console: muted, every mic\'s meter and the program\'s fall silent (' + JSON.stringify(await micLevels()) + ')');
      const st = await page.evaluate(async () => (await (await fetch('/api/v1/status')).json()).mics);
      check(st.every((m) => m.mute === true), 'status: the mics are muted');
      for (let i = 0; i < 240 && (await elapsed()) < marks.muted_from + 2; i++) await page.waitForTimeout(250);
      marks.muted_to = await elapsed();
      for (const b of await page.$$('#meters .meter.mic .mute')) await b.click();
      await page.waitForFunction(() => [...document.querySelectorAll('#meters .meter.mic')]
        .every((r) => Number(r.dataset.dbfs) > -40 && !r.classList.contains('muted-mic')), null, { timeout: 60000 });
      check(true, 'console: unmuted, the meters come back');
      // the fader: -20 dB on the teacher's mic shows in its meter
      const r = await page.evaluate(async () => (await LB.api('/api/v1/mics/teacher', { method: 'POST', body: { gain_db: -20 } })));
      check(r.status === 200 && r.data.gain_db === -20 && r.data.mute === false, 'mics API: gain_db -20 set (' + JSON.stringify(r.data) + ')');
      await page.waitForFunction(() => document.querySelector('#meters .meter.mic[data-name="teacher"] .gain').value === '-20');
      check(true, 'console: the teacher mic\'s gain control follows (-20 dB)');
      require('fs').writeFileSync(process.env.MARKS, JSON.stringify(marks));
    }
  });
  await step('console: stop', async () => {
    await page.click('#rec-button');
    await page.waitForFunction(() => !document.body.classList.contains('recording'), null, { timeout: 60000 });
    check(true, 'console: stop');
  });

  await step('console: the metadata reached lesson.json', async () => {
    const { status } = await waitComplete(consoleTitle);
    const lesson = await page.evaluate(async (t) => {
      const l = (await (await fetch('/api/v1/recordings?q=' + encodeURIComponent(t))).json()).recordings[0];
      const r = await fetch('/recordings/' + encodeURIComponent(l.id) + '/lesson.json');
      return JSON.parse(await r.text());
    }, consoleTitle);
    check(status === 'complete' && lesson.title === consoleTitle && (!DAEMON || (lesson.teacher === 'Mr Zhou' &&
          lesson.subject === '物理' && lesson.grade === '初三' && lesson['class'] === '2班' && lesson.lesson_type === 'quality')) &&
          lesson.live === false,
      'console: lesson.json has the title and metadata typed in the console, live unticked (' +
      [lesson.title, lesson.teacher, lesson.subject, lesson.grade, lesson['class'], lesson.lesson_type, lesson.live].join(', ') + ')');
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
    const other = await waitComplete(consoleTitle);
    check(other.status === 'complete', 'recordings: the console lesson is complete');
    const before = await page.locator('#list tbody tr').count();
    // the teacher's lesson goes; the console's stays (run_browser.py decodes it)
    await row.first().locator('button.danger').click();     // confirm() is accepted
    await page.waitForFunction((n) => document.querySelectorAll('#list tbody tr').length === n - 1, before);
    check(await page.locator('#list tbody tr', { hasText: consoleTitle }).count() === 1 &&
          await page.locator('#list tbody tr', { hasText: title }).count() === 0,
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
      // "Live" follows the video's playing/waiting events: a loaded machine
      // may stall the player a moment, so the page is asked until it plays
      await eventually('viewer: shows "Live" while playing', async () =>
        ({ ok: await page.$eval('#dot', (d) => d.classList.contains('on')) }), 60000);
      await eventually('viewer: live, nothing recorded: no dangling separator, no "luobo" title', async () => {
        const state = (await page.textContent('.viewer-state')).replace(/\s+/g, ' ').trim();
        return { ok: state === 'Live' && await page.textContent('#title') === 'Live', text: state };
      }, 60000);
      check(await page.isVisible('#unmute-hint'), 'viewer: a hint to unmute');
      await page.click('#unmute-hint');
      await page.waitForFunction(() => !document.getElementById('video').muted);
      // volumechange is a queued event: poll for the hint to go, as a viewer would wait
      const gone = await page.waitForSelector('#unmute-hint', { state: 'hidden', timeout: 10000 })
        .then(() => true, () => false);
      check(gone, 'viewer: unmuted, the hint goes');
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
    // the header is drawn once the session is read (a fetch after the load):
    // an empty nav would have no console link either
    await eventually('users: the teacher has no console or recordings links', async () => {
      const links = await page.$$eval('header nav a', (as) => as.map((a) => a.getAttribute('href')));
      return { ok: links.includes('/teacher.html') && !links.includes('/console.html') && !links.includes('/recordings.html'),
               text: links.join(' ') };
    });
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
  finish();
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
