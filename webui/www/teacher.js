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
    if (r.status === 200) show(r.data.recording);
    else error.textContent = LB.errText(r);
  });

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
  show = (rec) => { lessonFlags = (rec && rec.lesson_flags) || []; showRec(rec); showSchedule(); };

  const sc = await LB.api('/api/v1/schedule');
  if (sc.status === 200) showSchedule(sc.data);
  const st = await LB.api('/api/v1/status');
  if (st.status === 200) show(st.data.recording);
  LB.events((ev) => {
    alerts.handle(ev);
    if (ev.type === 'status') { show(LB.statusOf(ev).recording); showAlerts(); }
    if (ev.type === 'schedule') showSchedule(ev.schedule);
  });
  LB.attachHls(document.getElementById('preview'), '/live/program.m3u8');
})();
