/* The teacher's page: one button, a timer nobody can miss. */
'use strict';
(async () => {
  await LB.requireSession('teacher');
  const body = document.body;
  const button = document.getElementById('record');
  const label = document.getElementById('record-label');
  const timer = document.getElementById('timer');
  const state = document.getElementById('state');
  const error = document.getElementById('error');
  // what the lesson is filed under (lesson.json, episode.xml, the MP4 tags)
  const names = ['title', 'course', 'teacher', 'subject', 'lesson_type', 'grade', 'class'];
  const fields = names.map((id) => document.getElementById(id));
  let recording = false;
  let busy = false;
  let elapsedAt = 0;        // elapsed_s as last reported ...
  let reportedAt = 0;       // ... and when (performance.now(), ms)

  let show = function (rec) {
    const was = recording;
    recording = !!(rec && rec.active);
    body.classList.toggle('recording', recording);
    button.setAttribute('aria-pressed', String(recording));
    label.textContent = LB.t(recording ? 'stop' : 'record');
    if (!busy) state.textContent = recording ? LB.t('recording_since') + ' · ' + (rec.title || '') : LB.t('ready');
    fields.forEach((f) => { f.disabled = recording; });
    if (recording && !was) saved.hidden = true;
    document.getElementById('mic-meter').hidden = !recording;
    if (recording) {
      elapsedAt = Number(rec.elapsed_s) || 0;
      reportedAt = performance.now();
      if (!was) names.forEach((n, i) => { if (rec[n] !== undefined) fields[i].value = rec[n] || ''; });
    }
    tick();
  };

  function tick() {
    const s = recording ? elapsedAt + (performance.now() - reportedAt) / 1000 : 0;
    timer.textContent = LB.fmtDuration(s);
    timer.dataset.seconds = String(Math.floor(s));
  }
  setInterval(tick, 250);

  button.addEventListener('click', async () => {
    if (busy) return;
    if (recording && !confirm(LB.t('confirm_stop'))) return;
    busy = true;
    button.disabled = true;
    error.textContent = '';
    state.textContent = LB.t(recording ? 'stopping' : 'starting');
    const req = { action: recording ? 'stop' : 'start' };
    if (!recording) names.forEach((n, i) => { req[n] = fields[i].value; });
    const r = await LB.api('/api/v1/recording', { method: 'POST', body: req });
    busy = false;
    button.disabled = false;
    if (r.status === 200) {
      if (req.action === 'stop') lessonSaved();
      show(r.data.recording);
    } else error.textContent = LB.errText(r);
  });

  // After Stop: what was saved (title, length), then the form is made ready
  // for the next lesson: the timetable's, else empty.
  const saved = document.getElementById('saved');
  function lessonSaved() {
    const s = elapsedAt + (performance.now() - reportedAt) / 1000;
    const title = fields[0].value || LB.t('title');
    saved.textContent = '✓ ' + LB.t('lesson_saved') + ': ' + title + ' · ' + LB.fmtDuration(s);
    saved.dataset.title = fields[0].value;
    saved.dataset.seconds = String(Math.floor(s));
    saved.hidden = false;
    const next = schedule && schedule.enabled ? schedule.next : null;
    names.forEach((n, i) => { fields[i].value = next && next[n] ? next[n] : ''; });
  }

  // While recording, what the teacher can fix in the room: a mic or a camera.
  const warning = document.getElementById('alert-warning');
  let alertList = [];
  function showAlerts() {
    const mine = recording ? alertList.filter((a) => /^(mic_|camera_)/.test(a.alert)) : [];
    warning.textContent = '';
    for (const a of mine) warning.appendChild(LB.el('div', {}, '⚠ ' + LB.alertText(a)));
    warning.hidden = !mine.length;
  }
  const alerts = LB.alertTracker((list) => { alertList = list; showAlerts(); });

  // The timetable's lesson: now and next, with a teacher's stop early and +5/+10.
  const panel = document.getElementById('schedule');
  const entryButtons = document.getElementById('entry-buttons');
  let schedule = null;
  let lessonFlags = [];
  function showSchedule(sc) {
    if (sc) schedule = sc;
    if (!schedule || !schedule.enabled || (!schedule.current && !schedule.next)) {
      panel.hidden = true;
      return;
    }
    panel.hidden = false;
    const tz = schedule.timezone;
    const now = document.getElementById('lesson-now');
    now.textContent = LB.lessonText(schedule.current, tz);
    if (schedule.current && schedule.current.extended_until)
      now.textContent += '  ' + LB.t('extended_until') + ' ' + LB.fmtClock(schedule.current.record_until_s, tz);
    now.dataset.title = schedule.current ? schedule.current.title : '';
    const next = document.getElementById('lesson-next');
    next.textContent = LB.lessonText(schedule.next, tz);
    next.dataset.title = schedule.next ? schedule.next.title : '';
    entryButtons.hidden = !(recording && lessonFlags.includes('timetable'));
    const clock = document.getElementById('clock-warning');
    clock.hidden = !(schedule.clock && (schedule.clock.alert || schedule.clock.synchronised === false));
    clock.textContent = '⚠ ' + LB.t('clock_unsynced');
  }
  async function entryAction(body, ask) {
    if (ask && !confirm(ask)) return;
    error.textContent = '';
    const r = await LB.api('/api/v1/recording', { method: 'POST', body });
    if (r.status === 200) show(r.data.recording);
    else error.textContent = LB.errText(r);
    const sc = await LB.api('/api/v1/schedule');
    if (sc.status === 200) showSchedule(sc.data);
  }
  document.getElementById('extend-5').addEventListener('click', () => entryAction({ action: 'extend', minutes: 5 }));
  document.getElementById('extend-10').addEventListener('click', () => entryAction({ action: 'extend', minutes: 10 }));
  document.getElementById('stop-early').addEventListener('click',
    () => entryAction({ action: 'stop' }, LB.t('confirm_stop_early')));
  const showRec = show;
  let lastRec = null;
  show = (rec) => { lastRec = rec; lessonFlags = (rec && rec.lesson_flags) || []; showRec(rec); showSchedule(); };
  LB.onLang(() => { show(lastRec); showAlerts(); });

  const sc = await LB.api('/api/v1/schedule');
  if (sc.status === 200) showSchedule(sc.data);
  const st = await LB.api('/api/v1/status');
  if (st.status === 200) { LB.noteLabels(st.data); show(st.data.recording); }
  // The mic's level while recording: the teacher's mic (by role), else the first.
  let micName = null;
  LB.onLang(() => { micName = null; });     // the next status writes its line again
  function pickMic(st) {
    const mics = (st && st.mics) || [];
    const m = mics.find((x) => x.role === 'teacher') || mics[0];
    if (m && m.name !== micName) {
      micName = m.name;
      document.getElementById('mic-name').textContent = LB.t('mic_level') + ' · ' + (m.label || m.name);
    }
  }
  function showLevel(db) {
    const pct = Math.max(0, Math.min(100, (Number(db) + 60) / 60 * 100));
    const cover = document.getElementById('mic-cover');
    cover.style.width = (100 - pct) + '%';
    cover.parentNode.dataset.dbfs = String(Number(db).toFixed(1));
  }
  if (st.status === 200) pickMic(st.data);
  LB.events((ev) => {
    alerts.handle(ev);
    if (ev.type === 'meters' && micName) {
      const mics = ev.mics || {};
      if (mics[micName] !== undefined) showLevel(mics[micName]);
    }
    if (ev.type === 'status') { LB.noteLabels(LB.statusOf(ev)); pickMic(LB.statusOf(ev)); show(LB.statusOf(ev).recording); showAlerts(); }
    if (ev.type === 'schedule') showSchedule(ev.schedule);
  });
  LB.attachHls(document.getElementById('preview'), '/live/program.m3u8');
})();
