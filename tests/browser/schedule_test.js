// The schedule in a real browser (issue 14): the teacher page shows the
// timetable's current and next lesson with their metadata, and an edit on
// the timetable page (a title) is stored and reaches the teacher page.
// Env: BASE, SHOTS, PROFILE, SETUP_CODE.
'use strict';
const { check, launch, finish } = require('./lib');
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
    check(/九年级1班 物理/.test(await page.textContent('#sched-next')), 'console: the timetable\'s now and next');

    const teacher = await context.newPage();
    teacher.setDefaultTimeout(60000);
    teacher.on('pageerror', (e) => errors.push(String(e)));
    await teacher.goto(BASE + '/teacher.html');
    await teacher.waitForSelector('#schedule:not([hidden]) #lesson-now[data-title="七年级3班 数学"]');
    const now = await teacher.textContent('#lesson-now');
    check(/七年级3班 数学/.test(now) && /数学/.test(now) && /王老师/.test(now),
      'teacher: the current lesson with its metadata (' + now.trim() + ')');
    const next = await teacher.textContent('#lesson-next');
    check(/九年级1班 物理/.test(next) && /公开课/.test(next) && /赵老师/.test(next),
      'teacher: the next lesson with its metadata (' + next.trim() + ')');
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
    await page.screenshot({ path: path.join(process.env.SHOTS, 'schedule-timetable.png') });
    await teacher.waitForSelector('#lesson-now[data-title="Edited 数学"]');
    check(true, 'teacher: the edit reaches the teacher page (a schedule event)');

    // #19 item 5: no live output here, so the viewer page is offline and
    // names the timetable's next live lesson (status' next_live)
    const viewer = await context.newPage();
    viewer.setDefaultTimeout(60000);
    viewer.on('pageerror', (e) => errors.push(String(e)));
    await viewer.goto(BASE + '/viewer.html');
    await viewer.waitForSelector('#next:not([hidden])');
    const vnext = await viewer.textContent('#next');
    check(/九年级1班 物理/.test(vnext) && /赵老师/.test(vnext) && /物理/.test(vnext),
      'viewer: offline, the next live lesson with its teacher and subject (' + vnext.trim() + ')');
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
