/* The timetable (课表), for operators and admins: a week grid (days as
 * columns, Monday first, times as rows, in the schedule's time zone) of
 * what the timetable and the iCal feed hold, each lesson with its state;
 * a click on a lesson opens its entry's editor, on an empty slot a new
 * entry at that day and time (a day list on a phone).  Below, the entries
 * listed and edited field by field (whatever fields the timetable's format has, see
 * docs/schedule.md), added and removed, saved with PUT /api/v1/timetable
 * (a refusal names the entry at fault), imported from and exported to a
 * file; beside it what the schedule records today and tomorrow, and the
 * iCal feed's state. */
'use strict';
(async () => {
  await LB.requireSession('operator');
  const { el, t } = LB;
  const error = document.getElementById('error');
  const saved = document.getElementById('saved');
  let doc = null;           // the timetable document, as GET gave it
  let listKey = 'entries';  // the member that holds the entries

  function fail(r) { error.textContent = LB.errText(r); }

  function fieldInput(entry, key) {
    const v = entry[key];
    const isObj = v !== null && typeof v === 'object';
    const input = el('input', { value: isObj ? JSON.stringify(v) : (v === undefined || v === null ? '' : String(v)) });
    input.dataset.key = key;
    input.addEventListener('change', () => {
      const text = input.value;
      if (typeof v === 'boolean') entry[key] = /^(true|1|yes|on)$/i.test(text.trim());
      else if (typeof v === 'number') entry[key] = Number(text);
      else if (isObj) { try { entry[key] = JSON.parse(text); } catch (e) { error.textContent = key + ': ' + e; } }
      else entry[key] = text;
    });
    // a timetable key in this language (the JSON keeps the key)
    return el('div', {}, el('label', { title: key }, LB.tv('ttkey_', key)), input);
  }

  function render() {
    const box = document.getElementById('entries');
    box.textContent = '';
    const list = doc && Array.isArray(doc[listKey]) ? doc[listKey] : [];
    document.getElementById('empty').classList.toggle('hidden', list.length > 0);
    list.forEach((entry, i) => {
      const row = el('div', { className: 'tt-entry', dataset: { index: String(i) } });
      for (const key of Object.keys(entry)) row.appendChild(fieldInput(entry, key));
      row.appendChild(el('div', {}, el('label', {}, '\u00a0'),
        el('button', { type: 'button', className: 'danger', onclick: () => { list.splice(i, 1); render(); } }, t('del'))));
      box.appendChild(row);
    });
  }

  async function load() {
    const r = await LB.api('/api/v1/timetable');
    if (r.status === 200) doc = r.data;
    else if (r.status === 404) doc = null;
    else fail(r);
    if (doc) listKey = Object.keys(doc).find((k) => Array.isArray(doc[k]) && k === 'entries') ||
                       Object.keys(doc).find((k) => Array.isArray(doc[k])) || 'entries';
    render();
  }

  async function put(body, raw) {
    error.textContent = '';
    saved.textContent = '';
    const res = await fetch('/api/v1/timetable', { method: 'PUT', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': LB.session.csrf },
      body: raw !== undefined ? raw : JSON.stringify(body) });
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (res.status !== 200) { fail({ status: res.status, data }); return false; }
    saved.textContent = t('saved');
    doc = data;
    render();
    schedule();
    loadWeek();
    return true;
  }

  document.getElementById('add-entry').addEventListener('click', () => {
    if (!doc) doc = { entries: [] };
    if (!Array.isArray(doc[listKey])) doc[listKey] = [];
    const list = doc[listKey];
    // a new entry has the fields of the last one, copied, to edit
    const tmpl = list.length ? JSON.parse(JSON.stringify(list[list.length - 1])) : { id: '', weekday: '', period: '', subject: '' };
    if ('id' in tmpl) tmpl.id = 'e' + Date.now().toString(36);
    list.push(tmpl);
    render();
  });
  document.getElementById('save').addEventListener('click', () => put(doc || { entries: [] }));
  document.getElementById('import').addEventListener('change', async (e) => {
    const f = e.target.files[0];
    if (f) await put(null, await f.text());
    e.target.value = '';
  });

  async function schedule(sc) {
    if (!sc) {
      const r = await LB.api('/api/v1/schedule');
      if (r.status !== 200) return;
      sc = r.data;
    }
    const ol = document.getElementById('occurrences');
    ol.textContent = '';
    for (const o of sc.occurrences || [])
      ol.appendChild(el('li', { dataset: { state: o.state } }, LB.lessonText(o, sc.timezone) + ' ',
        el('span', { className: 'badge ' + (o.state === 'recording' ? 'recording' : o.state === 'done' ? 'done' : '') }, t('occ_' + o.state))));
    const f = sc.feed || {};
    document.getElementById('feed').textContent = f.source ? f.source + ' · ' + LB.tv('state_', f.state) +
      (f.last_ok_at ? ' · ' + LB.fmtDate(f.last_ok_at) : '') : '–';
    document.getElementById('feed-error').textContent = [f.last_error, sc.conflict, sc.error].filter(Boolean).join(' · ');
  }

  /* ---- the week grid ---- */
  const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
  const PX_PER_MIN = 1.5;            // 90 px an hour: a 45-minute lesson shows its four lines
  let zoneName = 'system';           // the schedule's zone ("system": the daemon's, shown in ours)
  let weekOffset = 0;                // weeks from this one
  let week = null;                   // {monday, days: [...], occ: [...], now_s, at, next_uid, recs}
  const tzOpt = () => (zoneName && zoneName !== 'system' ? { timeZone: zoneName } : {});
  const fmtParts = {};
  /* A Unix time's wall clock in the schedule's zone: {date, wd (0 = Monday), min}. */
  function wall(secs) {
    const key = zoneName;
    if (!fmtParts[key]) {
      try {
        fmtParts[key] = new Intl.DateTimeFormat('en-CA', Object.assign({ year: 'numeric', month: '2-digit',
          day: '2-digit', hour: '2-digit', minute: '2-digit', weekday: 'short', hourCycle: 'h23' }, tzOpt()));
      } catch (e) {             // a zone this browser does not know: its own
        fmtParts[key] = new Intl.DateTimeFormat('en-CA', { year: 'numeric', month: '2-digit', day: '2-digit',
          hour: '2-digit', minute: '2-digit', weekday: 'short', hourCycle: 'h23' });
      }
    }
    const p = {};
    for (const x of fmtParts[key].formatToParts(new Date(secs * 1000))) p[x.type] = x.value;
    return { date: p.year + '-' + p.month + '-' + p.day,
             wd: ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'].indexOf(p.weekday),
             min: (Number(p.hour) % 24) * 60 + Number(p.minute) };
  }
  /* Dates as plain calendar days (UTC arithmetic: no zone involved). */
  const dayNum = (date) => Date.UTC(+date.slice(0, 4), +date.slice(5, 7) - 1, +date.slice(8, 10)) / 86400000;
  const dateOf = (n) => new Date(n * 86400000).toISOString().slice(0, 10);
  const hhmm = (min) => String(Math.floor(min / 60)).padStart(2, '0') + ':' + String(min % 60).padStart(2, '0');
  const dayLabel = (date, opts) => new Date(dayNum(date) * 86400000).toLocaleDateString(LB.locale,
    Object.assign({ timeZone: 'UTC' }, opts));
  const nowS = () => (week ? week.now_s + (Date.now() - week.at) / 1000 : Date.now() / 1000);

  /* What a block says of its lesson: done, recording now, failed, skipped,
   * next; not recorded (record = false); '' for a later one. */
  function stateOf(o) {
    if (o.state === 'recording') return 'recording';
    if (o.state === 'not_recorded') return 'not_recorded';
    if (o.state === 'start_failed') return 'failed';    // could not start (start_error); tried again
    if (o.skipped) return 'skipped';
    const rec = week.recs[o.schedule_uid];
    if (o.state === 'done' || o.state === 'past') {
      if (rec) return rec === 'interrupted' ? 'failed' : 'done';
      return o.state === 'done' ? 'done' : 'failed';     // due, never recorded
    }
    if (o.refused) return 'failed';
    return o.schedule_uid === week.next_uid ? 'next' : '';
  }

  let loads = 0;            // the newest load draws: a slow one must not draw an older week
  async function loadWeek() {
    const seq = ++loads;
    const r0 = await LB.api('/api/v1/schedule');
    let sc = r0.status === 200 ? r0.data : null;
    if (sc) zoneName = sc.timezone || 'system';
    const now = sc && sc.now_s ? sc.now_s : Date.now() / 1000;
    const today = wall(now).date;
    const monday = dateOf(dayNum(today) - wall(now).wd + 7 * weekOffset);
    const days = [];
    for (let i = 0; i < 7; i++) days.push(dateOf(dayNum(monday) + i));
    // a day more on each side: the zone's offset is not known here
    const from = (dayNum(monday) - 1) * 86400, to = (dayNum(monday) + 8) * 86400;
    let occ = [];
    document.getElementById('week-error').textContent = '';
    if (sc) {
      const r = await LB.api('/api/v1/schedule?from=' + from + '&to=' + to);
      if (r.status === 200) { sc = r.data; occ = (sc.window && sc.window.occurrences) || []; }
      else document.getElementById('week-error').textContent = LB.errText(r);
    }
    occ = occ.filter((o) => days.includes(wall(o.start_s).date));
    // what the library holds of the week's past lessons (the scheduler
    // remembers only three days)
    const recs = {};
    if (occ.some((o) => o.state === 'past' || o.state === 'done')) {
      const r = await LB.api('/api/v1/recordings?limit=1000&from=' + dateOf(dayNum(monday) - 1) +
                             '&to=' + dateOf(dayNum(monday) + 7));
      for (const l of (r.status === 200 && r.data.recordings) || [])
        if (l.schedule_uid && recs[l.schedule_uid] !== 'complete') recs[l.schedule_uid] = l.status;
    }
    if (seq !== loads) return;
    week = { monday, days, today, occ, recs, now_s: now, at: Date.now(),
             next_uid: sc && sc.next ? sc.next.schedule_uid : '', feed: sc && sc.feed ? sc.feed.source : '' };
    renderWeek();
  }

  function blockText(o, st) {
    const who = [o.teacher, o.grade || o['class'] ? (o.grade || '') + (o['class'] || '') : ''].filter(Boolean).join(' · ');
    const how = o.record === false ? t('tg_not_recorded') : o.live ? t('tg_live') : t('tg_recorded_only');
    // a timetable's 24-hour times, as the rows say them
    return { who, how, when: hhmm(wall(o.start_s).min) + '–' + hhmm(wall(o.end_s).min),
             state: st && st !== 'not_recorded' ? t('tg_state_' + st) : '' };
  }

  function lessonBlock(o, cls) {
    const st = stateOf(o);
    const x = blockText(o, st);
    const n = nowS();
    const isNow = o.start_s <= n && n < o.end_s;
    const b = el('button', { type: 'button', className: cls + ' tg-' + (o.origin === 'ical' ? 'ical' : 'tt') +
      (st ? ' st-' + st : '') + (isNow ? ' is-now' : ''),
      dataset: { uid: o.schedule_uid, state: st || 'later', origin: o.origin || 'timetable' },
      onclick: (e) => { e.stopPropagation(); openOccurrence(o); } },
    el('span', { className: 'tg-title' }, o.title || o.schedule_uid),
    el('span', { className: 'tg-when' }, x.when),
    x.who ? el('span', { className: 'tg-who' }, x.who) : null,
    el('span', { className: 'tg-flags' },
      isNow ? el('span', { className: 'badge now' }, t('tg_now')) : null,
      x.state ? el('span', { className: 'badge st ' + st }, x.state) : null,
      el('span', { className: 'badge how' + (o.live && o.record !== false ? ' live' : '') }, x.how),
      o.origin === 'ical' ? el('span', { className: 'badge src' }, t('tg_from_feed_short')) : null));
    b.title = [o.title, x.when, x.who, x.how, x.state,
      o.refused || o.start_error || (st === 'failed' ? t('tg_why_failed') : ''),
      o.origin === 'ical' ? LB.tf('tg_from_feed', { source: week.feed || '–' }) : ''].filter(Boolean).join('\n');
    return b;
  }

  function renderWeek() {
    if (!week) return;
    const { days, today, occ } = week;
    const range = document.getElementById('week-range');
    range.textContent = dayLabel(days[0], { day: 'numeric', month: 'short' }) + ' – ' +
      dayLabel(days[6], { day: 'numeric', month: 'short', year: 'numeric' });
    range.title = zoneName === 'system' ? '' : zoneName;
    document.getElementById('week-this').disabled = weekOffset === 0;
    // the rows: 07:00 to 18:00, or wider for what the week or the periods hold
    const periods = (doc && Array.isArray(doc.periods)) ? doc.periods : [];
    const toMin = (s) => (/^\d\d:\d\d/.test(s || '') ? +s.slice(0, 2) * 60 + +s.slice(3, 5) : null);
    let lo = 7 * 60, hi = 18 * 60;
    for (const o of occ) {
      const a = wall(o.start_s).min, e = wall(o.end_s);
      lo = Math.min(lo, a);
      hi = Math.max(hi, e.date === wall(o.start_s).date ? e.min : 24 * 60);
    }
    for (const p of periods) {
      if (toMin(p.start) !== null) lo = Math.min(lo, toMin(p.start));
      if (toMin(p.end) !== null) hi = Math.max(hi, toMin(p.end));
    }
    lo = Math.floor(lo / 60) * 60;
    hi = Math.min(24 * 60, Math.ceil(hi / 60) * 60);
    const height = (hi - lo) * PX_PER_MIN;
    const grid = document.getElementById('grid');
    grid.textContent = '';
    grid.appendChild(el('div', { className: 'tg-corner' }));
    days.forEach((d, i) => grid.appendChild(el('div', {
      className: 'tg-dayhead' + (d === today ? ' today' : ''), dataset: { date: d, weekday: WEEKDAYS[i] } },
      el('span', { className: 'tg-wd' }, dayLabel(d, { weekday: 'short' })),
      el('span', { className: 'tg-date' }, dayLabel(d, { day: 'numeric', month: 'numeric' })),
      d === today ? el('span', { className: 'badge today' }, t('tg_today')) : null)));
    const axis = el('div', { className: 'tg-axis', style: 'height:' + height + 'px' });
    for (let m = lo; m < hi; m += 60)
      axis.appendChild(el('div', { className: 'tg-hour', dataset: { hour: String(m / 60) },
        style: 'top:' + (m - lo) * PX_PER_MIN + 'px;height:' + 60 * PX_PER_MIN + 'px' }, hhmm(m)));
    for (const p of periods) {
      const a = toMin(p.start), e = toMin(p.end);
      if (a === null || e === null) continue;
      axis.appendChild(el('div', { className: 'tg-period', dataset: { period: p.id || '' }, title: (p.name || p.id) + ' ' + p.start + '–' + p.end,
        style: 'top:' + (a - lo) * PX_PER_MIN + 'px;height:' + (e - a) * PX_PER_MIN + 'px' }, p.name || p.id || ''));
    }
    grid.appendChild(axis);
    const n = nowS();
    days.forEach((d, i) => {
      const col = el('div', { className: 'tg-col' + (d === today ? ' today' : ''), dataset: { date: d, weekday: WEEKDAYS[i] },
        style: 'height:' + height + 'px;background-size:100% ' + 60 * PX_PER_MIN + 'px',
        onclick: (e) => {
          if (e.target !== col) return;
          const y = e.clientY - col.getBoundingClientRect().top;
          newEntryAt(i, lo + Math.max(0, Math.floor(y / PX_PER_MIN / 15) * 15));
        } });
      for (const o of occ) {
        const w = wall(o.start_s);
        if (w.date !== d) continue;
        const e = wall(o.end_s);
        const end = e.date === d ? e.min : 24 * 60;
        const b = lessonBlock(o, 'tg-block');
        b.style.top = Math.round((w.min - lo) * PX_PER_MIN) + 'px';
        b.style.height = Math.max(1, Math.round((end - w.min) * PX_PER_MIN)) + 'px';
        col.appendChild(b);
      }
      if (d === wall(n).date) {
        const m = wall(n).min;
        if (m >= lo && m < hi) col.appendChild(el('div', { className: 'tg-now', title: t('tg_now'), style: 'top:' + (m - lo) * PX_PER_MIN + 'px' }));
      }
      grid.appendChild(col);
    });
    // the day list (a phone's width)
    const list = document.getElementById('day-list');
    list.textContent = '';
    days.forEach((d, i) => {
      const mine = occ.filter((o) => wall(o.start_s).date === d);
      const sec = el('section', { className: 'tg-day' + (d === today ? ' today' : ''), dataset: { date: d } },
        el('h3', {}, dayLabel(d, { weekday: 'long', day: 'numeric', month: 'long' }), ' ',
          d === today ? el('span', { className: 'badge today' }, t('tg_today')) : null));
      for (const o of mine) sec.appendChild(lessonBlock(o, 'tg-item'));
      if (!mine.length) sec.appendChild(el('p', { className: 'muted' }, t('tg_no_lessons')));
      sec.appendChild(el('button', { type: 'button', className: 'tg-add', onclick: () => newEntryAt(i, 8 * 60) }, t('tg_add_here')));
      list.appendChild(sec);
    });
  }

  /* ---- one entry in a dialog ---- */
  const dialog = document.getElementById('entry-dialog');
  let editing = null;      // {index (-1: new), entry (a copy)}
  function openEditor(index, entry, heading) {
    editing = { index, entry };
    document.getElementById('entry-dialog-title').textContent = heading;
    document.getElementById('entry-source').textContent = '';
    document.getElementById('entry-error').textContent = '';
    const box = document.getElementById('entry-fields');
    box.textContent = '';
    box.hidden = false;
    for (const key of Object.keys(entry)) box.appendChild(fieldInput(entry, key));
    document.getElementById('entry-buttons').hidden = false;
    document.getElementById('entry-delete').hidden = index < 0;
    if (!dialog.open) dialog.showModal();
  }
  function openOccurrence(o) {
    const list = doc && Array.isArray(doc[listKey]) ? doc[listKey] : [];
    const id = String(o.schedule_uid || '').replace(/@[^@]*$/, '');
    const index = o.origin === 'ical' ? -1 : list.findIndex((e) => e && e.id === id);
    if (index >= 0) {
      openEditor(index, JSON.parse(JSON.stringify(list[index])), t('tg_edit_entry'));
      return;
    }
    // a feed's lesson (or one gone from the timetable): read only
    editing = null;
    document.getElementById('entry-dialog-title').textContent = o.title || o.schedule_uid;
    document.getElementById('entry-source').textContent = o.origin === 'ical'
      ? LB.tf('tg_from_feed', { source: week.feed || '–' }) : t('tg_entry_gone');
    document.getElementById('entry-error').textContent = '';
    const box = document.getElementById('entry-fields');
    box.textContent = '';
    const x = blockText(o, stateOf(o));
    for (const v of [x.when, x.who, o.subject, o.hall, x.how, x.state]) if (v) box.appendChild(el('div', {}, v));
    document.getElementById('entry-buttons').hidden = true;
    if (!dialog.open) dialog.showModal();
  }
  /* A new entry on weekday wd (0 = Monday) at minute min: in the period
   * there when the timetable has one, else 45 minutes from min. */
  function newEntryAt(wd, min) {
    const periods = (doc && Array.isArray(doc.periods)) ? doc.periods : [];
    const toMin = (s) => (/^\d\d:\d\d/.test(s || '') ? +s.slice(0, 2) * 60 + +s.slice(3, 5) : -1);
    const p = periods.find((x) => toMin(x.start) <= min && min < toMin(x.end));
    const entry = { id: 'e' + Date.now().toString(36), weekday: WEEKDAYS[wd] };
    if (p) entry.period = p.id;
    else { entry.start = hhmm(min); entry.end = hhmm(Math.min(min + 45, 23 * 60 + 59)); }
    Object.assign(entry, { subject: '', grade: '', class: '', teacher: '' });
    openEditor(-1, entry, t('tg_new_entry'));
  }
  document.getElementById('entry-close').addEventListener('click', () => dialog.close());
  document.getElementById('entry-save').addEventListener('click', async () => {
    if (!editing) return;
    if (!doc) doc = { entries: [] };
    if (!Array.isArray(doc[listKey])) doc[listKey] = [];
    const list = doc[listKey];
    const before = editing.index >= 0 ? list[editing.index] : null;
    if (editing.index >= 0) list[editing.index] = editing.entry; else list.push(editing.entry);
    if (await put(doc)) { dialog.close(); return; }
    // refused: the page keeps what is stored, the dialog what was typed
    if (editing.index >= 0) list[editing.index] = before; else list.pop();
    document.getElementById('entry-error').textContent = error.textContent;
    render();
  });
  document.getElementById('entry-delete').addEventListener('click', async () => {
    if (!editing || editing.index < 0) return;
    const list = doc[listKey];
    const [gone] = list.splice(editing.index, 1);
    if (await put(doc)) { dialog.close(); return; }
    list.splice(editing.index, 0, gone);
    document.getElementById('entry-error').textContent = error.textContent;
    render();
  });
  document.getElementById('week-prev').addEventListener('click', () => { weekOffset--; loadWeek(); });
  document.getElementById('week-next').addEventListener('click', () => { weekOffset++; loadWeek(); });
  document.getElementById('week-this').addEventListener('click', () => { weekOffset = 0; loadWeek(); });

  await load();
  await schedule();
  await loadWeek();
  LB.events((ev) => { if (ev.type === 'schedule') { schedule(ev.schedule); loadWeek(); } });
  LB.onLang(() => { render(); schedule(); renderWeek(); });
  // the now line and the states move on; a new day moves "this week" on
  setInterval(() => { if (week && wall(nowS()).date !== week.today) loadWeek(); else renderWeek(); }, 30000);
})();
