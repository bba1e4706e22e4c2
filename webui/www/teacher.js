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
  const fields = ['title', 'course', 'teacher'].map((id) => document.getElementById(id));
  let recording = false;
  let busy = false;
  let elapsedAt = 0;        // elapsed_s as last reported ...
  let reportedAt = 0;       // ... and when (performance.now(), ms)

  function show(rec) {
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
      if (!was) {
        document.getElementById('title').value = rec.title || '';
        document.getElementById('course').value = rec.course || '';
        document.getElementById('teacher').value = rec.teacher || '';
      }
    }
    tick();
  }

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
    const req = recording ? { action: 'stop' } : {
      action: 'start', title: fields[0].value, course: fields[1].value, teacher: fields[2].value };
    const r = await LB.api('/api/v1/recording', { method: 'POST', body: req });
    busy = false;
    button.disabled = false;
    if (r.status === 200) show(r.data.recording);
    else error.textContent = (r.data && r.data.error) || ('HTTP ' + r.status);
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

  const st = await LB.api('/api/v1/status');
  if (st.status === 200) show(st.data.recording);
  LB.events((ev) => {
    alerts.handle(ev);
    if (ev.type === 'status') { show(LB.statusOf(ev).recording); showAlerts(); }
  });
  LB.attachHls(document.getElementById('preview'), '/live/program.m3u8');
})();
