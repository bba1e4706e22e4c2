// The schedule in a real browser (issue 14): the teacher page shows the
// timetable's current and next lesson with their metadata, and an edit on
// the timetable page (a title) is stored and reaches the teacher page.
// Env: BASE, SHOTS, PROFILE, SETUP_CODE.
'use strict';
const { check, step, eventually, launch, finish } = require('./lib');
const path = require('path');

const BASE = process.env.BASE;

(async () => {
  const context = await launch({ viewport: { width: 1280, height: 900 }, locale: 'en-US' });
  try {
    const page = context.pages()[0] || await context.newPage();
    page.setDefaultTimeout(60000);
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(BASE + '/');
    await page.waitForSelector('#setup:not(.hidden)');
    await page.fill('#setup-code', process.env.SETUP_CODE);
    await page.fill('#setup-password', 'schedule test pw 1');
    await page.fill('#setup-password2', 'schedule test pw 1');
    await page.click('#setup-button');
    await page.waitForURL(/console\.html/);
    await page.waitForSelector('#sched-now:has-text("七年级3班 数学")');
    await eventually('console: the timetable\'s now and next', async () => {
      const t = await page.textContent('#sched-next');
      return { ok: /九年级1班 物理/.test(t), text: t };
    });

    const teacher = await context.newPage();
    teacher.setDefaultTimeout(60000);
    teacher.on('pageerror', (e) => errors.push(String(e)));
    await teacher.goto(BASE + '/teacher.html');
    await teacher.waitForSelector('#schedule:not([hidden]) #lesson-now[data-title="七年级3班 数学"]');
    await eventually('teacher: the current lesson with its metadata', async () => {
      const now = (await teacher.textContent('#lesson-now')).trim();
      return { ok: /七年级3班 数学/.test(now) && /数学/.test(now) && /王老师/.test(now), text: now };
    });
    await eventually('teacher: the next lesson with its metadata', async () => {
      const next = (await teacher.textContent('#lesson-next')).trim();
      return { ok: /九年级1班 物理/.test(next) && /公开课/.test(next) && /赵老师/.test(next), text: next };
    });
    check(!(await teacher.isVisible('#entry-buttons')),
      'teacher: no stop early / +5 / +10 while no timetable lesson records');
    await teacher.screenshot({ path: path.join(process.env.SHOTS, 'schedule-teacher.png') });

    // the timetable page: edit the first entry's title, save
    await page.goto(BASE + '/timetable.html');
    const title = page.locator('.tt-entry[data-index="0"] input[data-key="title"]');
    await title.waitFor();
    await title.fill('Edited 数学');
    await title.dispatchEvent('change');
    await page.click('#save');
    await page.waitForFunction(() => document.getElementById('saved').textContent.length > 0 ||
                                     document.getElementById('error').textContent.length > 0);
    check(!(await page.textContent('#error')).trim(), 'timetable: saved without an error (' +
      (await page.textContent('#error')).trim() + ')');
    const stored = await page.evaluate(async () => (await fetch('/api/v1/timetable')).json());
    check(stored.entries[0].title === 'Edited 数学', 'timetable: the edit is stored (' + stored.entries[0].title + ')');
    await page.waitForSelector('#occurrences li >> text=Edited 数学');
    check(true, 'timetable: today\'s list shows the edit');
    await page.evaluate(() => window.scrollTo(0, 0));        // the week grid at the top
    await page.screenshot({ path: path.join(process.env.SHOTS, 'schedule-timetable.png') });
    await teacher.waitForSelector('#lesson-now[data-title="Edited 数学"]');
    check(true, 'teacher: the edit reaches the teacher page (a schedule event)');

    await step('timetable: the week grid', async () => {
      const en = stored.entries;
      const first = en.find((e) => e.id === 'maths-7-3');
      // what a block's box is against its day header and the hour rows
      // (one round trip each: the machine is loaded, and every call costs)
      const geo = (sel) => page.evaluate((sel) => {
        window.scrollTo(0, 0);            // the day headers stick to the top of a scrolled page
        const b = document.querySelector(sel);
        if (!b) return null;
        const col = b.parentElement;
        const head = document.querySelector('#grid .tg-dayhead[data-date="' + col.dataset.date + '"]');
        const r = b.getBoundingClientRect(), h = head.getBoundingClientRect();
        const hours = [...document.querySelectorAll('#grid .tg-hour')].map((x) =>
          ({ hour: Number(x.dataset.hour), top: x.getBoundingClientRect().top, height: x.getBoundingClientRect().height }));
        return { uid: b.dataset.uid, range: document.getElementById('week-range').textContent,
                 todayShown: !!document.querySelector('#grid .tg-dayhead.today'),
                 oneOffShown: !!document.querySelector('#grid .tg-block[data-uid^="maths-7-3@"]'), date: col.dataset.date, weekday: col.dataset.weekday, today: head.classList.contains('today'),
                 left: r.left, right: r.right, top: r.top, bottom: r.bottom, headLeft: h.left, headRight: h.right,
                 headBottom: h.bottom, hours, cls: b.className, text: b.textContent, title: b.title };
      }, sel);
      const rowTop = (g, hhmm) => {
        const [H, M] = hhmm.split(':').map(Number);
        const row = g.hours.find((x) => x.hour === H);
        return row ? row.top + M * row.height / 60 : NaN;
      };
      // the week's window of GET /api/v1/schedule, and what it refuses
      const api = await page.evaluate(async () => {
        const now = Math.floor(Date.now() / 1000);
        const get = async (q) => { const r = await fetch('/api/v1/schedule' + q); return { status: r.status, body: await r.json() }; };
        const out = { ok: await get('?from=' + (now - 86400) + '&to=' + (now + 8 * 86400)), bad: [] };
        for (const q of ['?from=1', '?from=10&to=5', '?from=0&to=2000000', '?x=1', '?from=abc&to=9', '?from=1&from=2&to=3'])
        { const r = await get(q); out.bad.push([q, r.status, r.body.error]); }
        return out;
      });
      const win = api.ok.body.window;
      check(api.ok.status === 200 && win && Array.isArray(win.occurrences) && 'current' in api.ok.body &&
            win.occurrences.some((o) => o.schedule_uid.startsWith('english-8-2@') && o.origin === 'timetable' && o.live === true) &&
            win.occurrences.some((o) => o.origin === 'ical' && o.record === false),
        'schedule?from=&to=: the window\'s occurrences from the timetable and the feed, beside the usual view');
      check(api.bad.every(([, st, err]) => st === 400 && typeof err === 'string' && err.length > 0) &&
            /go together/.test(api.bad[0][2]) && /after 'from'/.test(api.bad[1][2]) && /15 days/.test(api.bad[2][2]) &&
            /unknown query parameter 'x'/.test(api.bad[3][2]) && /Unix seconds/.test(api.bad[4][2]) && /twice/.test(api.bad[5][2]),
        'schedule?from=&to=: bad windows are 400 naming the problem (' + api.bad.map((b) => b.join(' ')).join(' | ') + ')');
      await page.waitForSelector('#grid .tg-block[data-uid="maths-7-3@' + first.date + '"]');
      let g = await geo('#grid .tg-block[data-uid="maths-7-3@' + first.date + '"]');
      check(g.date === first.date && g.today && g.left >= g.headLeft - 1 && g.right <= g.headRight + 1 && g.top >= g.headBottom,
        'grid: the current lesson in today\'s column, under its header (' + g.date + ', x ' + Math.round(g.left) + '–' +
        Math.round(g.right) + ' in ' + Math.round(g.headLeft) + '–' + Math.round(g.headRight) + ')');
      check(Math.abs(g.top - rowTop(g, first.start)) <= 2,
        'grid: it starts on its time row (' + first.start + ': y ' + Math.round(g.top) + ', row ' + Math.round(rowTop(g, first.start)) + ')');
      check(/\bis-now\b/.test(g.cls) && /Now/.test(g.text) && /Edited 数学/.test(g.text) && /王老师/.test(g.text) &&
            /Not recorded/.test(g.text),
        'grid: the current lesson is marked, with its title, teacher and recording (' + g.text + ')');
      check(await page.evaluate(() => { const c = document.querySelector('#grid .tg-col.today');
                                        return c && c.querySelector('.tg-now') ? c.dataset.date : null; }) === first.date,
        'grid: a now line in today\'s column');
      // the weekly lesson, this week and the next
      g = await geo('#grid .tg-block[data-uid^="english-8-2@"]');
      const wuid = g.uid;
      const weekly = en.find((e) => e.id === 'english-8-2');
      check(g.weekday === weekly.weekday && g.left >= g.headLeft - 1 && g.right <= g.headRight + 1 &&
            Math.abs(g.top - rowTop(g, '10:00')) <= 2 && /Live/.test(g.text) && /陈老师/.test(g.text) && /八年级2班/.test(g.text),
        'grid: the weekly lesson on its weekday (' + g.weekday + ') at 10:00, live (' + g.text + ')');
      const range = g.range;
      await page.click('#week-next');
      const nextDate = new Date(Date.parse(g.date + 'T00:00:00Z') + 7 * 86400000).toISOString().slice(0, 10);
      await page.waitForSelector('#grid .tg-block[data-uid="english-8-2@' + nextDate + '"]');
      const g2 = await geo('#grid .tg-block[data-uid="english-8-2@' + nextDate + '"]');
      check(g2.weekday === weekly.weekday && Math.abs(g2.top - rowTop(g2, '10:00')) <= 2 &&
            g2.range !== range && !g2.todayShown && !g2.oneOffShown,
        'grid: next week shows the weekly lesson again (' + nextDate + '), not the one-off, no today');
      await page.click('#week-this');
      await page.waitForSelector('#grid .tg-dayhead.today');
      // a click on a lesson opens its entry's editor
      await page.click('#grid .tg-block[data-uid="' + wuid + '"]');
      await page.waitForSelector('#entry-dialog[open] #entry-fields input[data-key="subject"]');
      const fields = () => page.evaluate(() => Object.fromEntries([...document.querySelectorAll('#entry-fields input')]
        .map((i) => [i.dataset.key, i.value]).concat([['deletable', !document.getElementById('entry-delete').hidden]])));
      let v = await fields();
      check(v.id === 'english-8-2' && v.weekday === weekly.weekday && v.subject === '英语' && v.teacher === '陈老师' &&
            v.start === '10:00' && v.deletable, 'grid: a click on the lesson opens its editor with its values');
      await page.click('#entry-close');
      // a click on an empty slot: a new entry on that day and time
      const empty = await page.evaluate(() => {
        const cols = [...document.querySelectorAll('#grid .tg-col')].filter((c) => !c.querySelector('.tg-block'));
        const row = [...document.querySelectorAll('#grid .tg-hour')][2];
        const c = cols[0].getBoundingClientRect(), r = row.getBoundingClientRect();
        return { weekday: cols[0].dataset.weekday, hour: Number(row.dataset.hour), x: c.left + c.width / 2, y: r.top + r.height / 2 + 2 };
      });
      await page.mouse.click(empty.x, empty.y);
      await page.waitForSelector('#entry-dialog[open] #entry-fields input[data-key="start"]');
      const want = String(empty.hour).padStart(2, '0') + ':30';
      v = await fields();
      check(v.weekday === empty.weekday && v.start === want && !v.deletable,
        'grid: a click on an empty slot proposes a new entry there (' + v.weekday + ' ' + v.start + '–' + v.end +
        ', want ' + empty.weekday + ' ' + want + ')');
      await page.fill('#entry-fields input[data-key="subject"]', '化学');
      await page.dispatchEvent('#entry-fields input[data-key="subject"]', 'change');
      await page.click('#entry-save');
      await page.waitForSelector('#entry-dialog[open]', { state: 'hidden' });
      const added = (await page.evaluate(async () => (await fetch('/api/v1/timetable')).json()))
        .entries.find((e) => e.subject === '化学');
      check(!!added && added.weekday === empty.weekday && added.start === want,
        'grid: the new entry is stored (' + JSON.stringify(added) + ')');
      await page.waitForSelector('#grid .tg-col[data-weekday="' + empty.weekday + '"] .tg-block');
      // the feed's lesson: read only, saying where it comes from
      g = await geo('#grid .tg-block[data-origin="ical"]');
      const iuid = g.uid;
      check(/\btg-ical\b/.test(g.cls) && /全校周会/.test(g.text) && /Calendar/.test(g.text) && /school\.ics/.test(g.title) &&
            Math.abs(g.top - rowTop(g, '11:00')) <= 2,
        'grid: the feed\'s lesson is drawn as the calendar\'s, at 11:00 (' + g.text + ')');
      await page.click('#grid .tg-block[data-uid="' + iuid + '"]');
      await page.waitForSelector('#entry-dialog[open]');
      const ro = await page.evaluate(() => ({ source: document.getElementById('entry-source').textContent,
                                               editable: !document.getElementById('entry-buttons').hidden }));
      check(/calendar feed .*school\.ics.*read-only/.test(ro.source) && !ro.editable,
        'grid: the feed\'s lesson opens read-only, naming its feed (' + ro.source + ')');
      await page.click('#entry-close');
      // no overlaps at 1024 and 1400 px; a day list at 400 px
      for (const width of [1024, 1400]) {
        await page.setViewportSize({ width, height: 900 });
        await page.evaluate(() => window.scrollTo(0, 0));
        const bad = await page.evaluate(() => {
          const out = [];
          const box = (e) => e.getBoundingClientRect();
          const hit = (a, b) => a.left < b.right - 0.5 && b.left < a.right - 0.5 && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5;
          const blocks = [...document.querySelectorAll('#grid .tg-block')];
          blocks.forEach((a, i) => {
            const c = box(a.parentElement), r = box(a);
            if (r.left < c.left - 0.5 || r.right > c.right + 0.5) out.push(a.dataset.uid + ' leaves its column');
            blocks.slice(i + 1).forEach((b) => { if (hit(r, box(b))) out.push(a.dataset.uid + ' overlaps ' + b.dataset.uid); });
          });
          const heads = [...document.querySelectorAll('#grid .tg-dayhead, #week-panel .tg-nav button, #week-panel h2')];
          heads.forEach((a, i) => heads.slice(i + 1).forEach((b) => { if (hit(box(a), box(b))) out.push(a.textContent + ' overlaps ' + b.textContent); }));
          const g = document.getElementById('grid');
          if (g.scrollWidth > g.clientWidth + 1) out.push('the grid is wider than its panel');
          if (document.documentElement.scrollWidth > window.innerWidth + 1) out.push('the page scrolls sideways');
          return out;
        });
        check(bad.length === 0, 'grid at ' + width + ' px: no overlaps (' + bad.join('; ') + ')');
      }
      await page.setViewportSize({ width: 400, height: 800 });
      const phone = await page.evaluate((uid) => ({
        grid: !!document.getElementById('grid').offsetParent,
        item: !!(document.querySelector('#day-list .tg-day.today .tg-item[data-uid="' + uid + '"]') || {}).offsetParent,
        sideways: document.documentElement.scrollWidth > window.innerWidth + 1 }), 'maths-7-3@' + first.date);
      check(!phone.grid && phone.item && !phone.sideways,
        'at 400 px: a day list in place of the grid, today\'s lesson in it, no sideways scroll (' + JSON.stringify(phone) + ')');
      await page.setViewportSize({ width: 1280, height: 900 });
    });

    // #19 item 5: no live output here, so the viewer page is offline and
    // names the timetable's next live lesson (status' next_live)
    const viewer = await context.newPage();
    viewer.setDefaultTimeout(60000);
    viewer.on('pageerror', (e) => errors.push(String(e)));
    await viewer.goto(BASE + '/viewer.html');
    await viewer.waitForSelector('#next:not([hidden])');
    await eventually('viewer: offline, the next live lesson with its teacher and subject', async () => {
      const vnext = (await viewer.textContent('#next')).trim();
      return { ok: /九年级1班 物理/.test(vnext) && /赵老师/.test(vnext) && /物理/.test(vnext), text: vnext };
    });
    check(await viewer.textContent('#live') === 'Not live' && await viewer.textContent('#title') === 'Not live right now' &&
          !(await viewer.$eval('#dot', (d) => d.classList.contains('on'))),
      'viewer: a clear offline state (' + await viewer.textContent('#title') + ' / ' + await viewer.textContent('#live') + ')');
    check(!/·\s*$/.test((await viewer.textContent('.viewer-state')).trim()), 'viewer: no dangling separator');
    check(await viewer.isVisible('#unmute-hint'), 'viewer: the unmute hint shows while the sound is muted');
    // anonymous (public_viewer = true here): the viewers' status
    const anon = await (await fetch(BASE + '/api/v1/status')).json();
    check(anon.next_live && anon.next_live.teacher === '赵老师' && !('hall' in anon.next_live) && !('uid' in anon.next_live),
      'status: next_live for viewers holds the lesson, not the schedule\'s internals');

    check(errors.length === 0, 'no script errors: ' + errors.join(' | '));
  } catch (e) {
    check(false, String(e).split('\n')[0]);
  } finally {
    await context.close();
  }
  finish();
})();
