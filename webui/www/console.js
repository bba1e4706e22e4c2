/* The operator's console: multiview with tally, program, meters, director. */
'use strict';
(async () => {
  await LB.requireSession('operator');
  const { el, t, dash } = LB;
  const tiles = new Map();          // source name -> {tile, img}
  const meters = new Map();         // name -> {fill, peak, value, peakDb, peakAt}
  let status = null;
  let program = [];
  let recording = false;
  let recTitle = '';
  let recLive = true;     // the lesson goes to the live outputs (the start's "live")
  let elapsedAt = 0;      // elapsed_s as last reported, and when (performance.now() ms):
  let reportedAt = 0;     // the clock runs on between status events

  function tickRecording() {
    const s = elapsedAt + (performance.now() - reportedAt) / 1000;
    document.getElementById('rec-state').textContent = recording
      ? recTitle + ' · ' + LB.fmtDuration(s) + (recLive ? '' : ' · ' + t('rec_not_live')) : t('not_recording');
    document.getElementById('rec-time').textContent = recording ? LB.fmtDuration(s) : '';
  }
  setInterval(tickRecording, 250);

  const pct = (db) => Math.max(0, Math.min(100, (Number(db) + 60) / 60 * 100));

  // A meter row; a mic's (isMic) has its mute button and gain (the fader
  // in the program mix, POST /api/v1/mics/<name>).
  function meter(name, isMic) {
    if (meters.has(name)) return meters.get(name);
    const fill = el('div', { className: 'cover' });
    const peak = el('div', { className: 'peak' });
    const value = el('span', { className: 'muted' }, '–');
    const label = isMic ? name : t('program');
    const labelEl = el('span', { className: 'meter-name', title: label }, label);
    if (!isMic) labelEl.dataset.i18n = 'program';
    const row = el('div', { className: 'meter' }, labelEl,
      el('div', { className: 'bar' }, fill, peak), value);
    row.dataset.name = name;
    const m = { fill, peak, value, peakDb: -120, peakAt: 0, row, labelEl };
    if (isMic) {
      row.classList.add('mic');
      m.mute = el('button', { type: 'button', className: 'mute', onclick: () => setMic(name, { mute: !m.muted }) },
        t('mute'));
      m.gain = el('input', { type: 'range', min: '-60', max: '20', step: '1', value: '0', className: 'gain',
        title: t('gain'), onchange: () => setMic(name, { gain_db: Number(m.gain.value) }),
        oninput: () => { m.gainText.textContent = fmtGain(m.gain.value); } });
      m.gain.setAttribute('aria-label', t('gain') + ' ' + name);
      m.gainText = el('span', { className: 'muted gain-text' }, fmtGain(0));
      row.appendChild(el('div', { className: 'mic-ctl' }, m.mute, m.gain, m.gainText));
      document.getElementById('meters').appendChild(row);
    } else {
      document.getElementById('meters').prepend(row);      // the program on top
    }
    meters.set(name, m);
    return m;
  }

  const fmtGain = (db) => (Number(db) > 0 ? '+' : '') + Number(db).toFixed(0) + ' dB';

  function showMic(mic) {
    const m = meter(mic.name, true);
    if (mic.label) { m.labelEl.textContent = mic.label; m.labelEl.title = mic.label; }   // label = 讲台
    if (mic.mute === undefined) return;
    m.muted = !!mic.mute;
    m.row.classList.toggle('muted-mic', m.muted);
    m.mute.classList.toggle('on', m.muted);
    m.mute.textContent = t(m.muted ? 'unmute' : 'mute');
    m.mute.setAttribute('aria-pressed', String(m.muted));
    if (document.activeElement !== m.gain && mic.gain_db !== undefined) {
      m.gain.value = String(mic.gain_db);
      m.gainText.textContent = fmtGain(mic.gain_db);
    }
  }

  async function setMic(name, body) {
    const r = await LB.api('/api/v1/mics/' + encodeURIComponent(name), { method: 'POST', body });
    const err = document.getElementById('error');
    if (r.status !== 200) { err.textContent = LB.errText(r); return; }
    err.textContent = '';
    showMic(r.data);
  }

  const PROGRAM_METER = ' program';      // no mic's name (INI trims spaces); shown as t('program')
  function setMeter(name, db) {
    const m = meter(name, name !== PROGRAM_METER);
    const now = performance.now();
    db = Number(db);
    // Peak hold: keep the highest level 1.5 s, then let it fall.
    if (db >= m.peakDb || now - m.peakAt > 1500) { m.peakDb = db; m.peakAt = now; }
    m.fill.style.width = (100 - pct(db)) + '%';
    m.peak.style.left = 'calc(' + pct(m.peakDb) + '% - 2px)';
    m.value.textContent = db <= -119 ? '-∞' : db.toFixed(0) + ' dB';
    m.row.dataset.dbfs = db.toFixed(1);
  }

  function tile(src) {
    if (tiles.has(src.name)) return tiles.get(src.name);
    const img = el('img', { alt: src.label || src.name });
    const stateBadge = el('span', { className: 'badge' });
    const labelText = el('span', { className: 'name' });
    const node = el('div', { className: 'tile', title: src.name },
      el('span', { className: 'tally', dataset: { i18n: 'pgm' } }, t('pgm')), img,
      el('div', { className: 'label' }, labelText, stateBadge));
    node.dataset.source = src.name;
    node.addEventListener('click', () => take(src.name));
    document.getElementById('multiview').appendChild(node);
    const entry = { tile: node, img, stateBadge, labelText, loading: false };
    tiles.set(src.name, entry);
    return entry;
  }

  // Snapshots ~1 Hz, one request per tile at a time so a slow link never piles up.
  function refreshSnapshots() {
    for (const [name, entry] of tiles) {
      if (entry.loading) continue;
      entry.loading = true;
      const next = new Image();
      next.onload = () => { entry.img.src = next.src; entry.loading = false; };
      next.onerror = () => { entry.loading = false; };
      next.src = '/api/v1/sources/' + encodeURIComponent(name) + '/snapshot.jpg?t=' + Date.now();
    }
  }
  setInterval(refreshSnapshots, 1000);

  // The program preview: the program's latest picture as a JPEG, fetched
  // one at a time, at most 5 a second, while the tab is visible, and at
  // once after a take.  A live stream (even low-latency HLS, 1 s+) would
  // show a take too late to judge it; this is a frame interval, a fetch
  // and up to 0.2 s behind the program.
  const programImg = document.getElementById('program');
  let programBusy = false, programNext = 0, programUrl = null;
  async function refreshProgram(now) {
    if (programBusy || document.hidden || (!now && Date.now() < programNext)) return;
    programBusy = true;
    programNext = Date.now() + 200;
    try {
      const r = await fetch('/api/v1/sources/program/snapshot.jpg', { cache: 'no-store' });
      if (r.ok) {
        const url = URL.createObjectURL(await r.blob());
        programImg.src = url;
        if (programUrl) URL.revokeObjectURL(programUrl);
        programUrl = url;
      }
    } catch (e) { /* the next turn tries again */ }
    programBusy = false;
  }
  setInterval(refreshProgram, 50);

  let decidedAt = -Infinity;      // program time (s) of the newest decision
  function setTally(names) {
    program = names || [];
    for (const [name, entry] of tiles) entry.tile.classList.toggle('program', program.includes(name));
  }

  function renderTables(s) {
    const stb = document.querySelector('#sources tbody');
    stb.textContent = '';
    for (const src of s.sources || []) {
      // an IP camera's sub-stream, which the director analyses: its size,
      // and its state when it is not live (the director then uses the main stream)
      const sub = src.analysis_stream;
      const size = (src.width ? src.width + '×' + src.height : '–') +
        (sub ? ' + ' + t('substream') + ' ' + (sub.width ? sub.width + '×' + sub.height : '–') : '');
      const subState = sub && sub.state !== 'live' ? t('substream') + ' ' + sub.state : '';
      const error = [src.last_error, subState && (subState + (sub.last_error ? ': ' + sub.last_error : ''))]
        .filter(Boolean).join(' · ');
      stb.appendChild(el('tr', {}, el('td', {}, src.label || src.name), el('td', {}, LB.tv('srole_', src.role)),
        el('td', {}, el('span', { className: 'badge ' + (src.state || '') }, LB.tv('state_', src.state))),
        el('td', { className: 'hide-narrow' }, size),
        el('td', { className: 'hide-narrow' }, dash(src.frames)), el('td', {}, dash(src.dropped)),
        el('td', {}, dash(src.reconnects)), el('td', { className: 'muted' }, dash(error))));
    }
    const otb = document.querySelector('#outputs tbody');
    otb.textContent = '';
    for (const o of s.outputs || []) {
      otb.appendChild(el('tr', {}, el('td', {}, o.name), el('td', {}, LB.tv('kind_', o.kind)),
        el('td', {}, el('span', { className: 'badge ' + (o.state || '') }, LB.tv('state_', o.state))),
        el('td', {}, o.send_kbps ? Math.round(o.send_kbps) + ' kb/s' : '–'),
        el('td', {}, o.rtt_ms ? Number(o.rtt_ms).toFixed(1) + ' ms' : '–'),
        el('td', {}, o.kind === 'srt' ? Number(o.loss_pct || 0).toFixed(2) + ' %' : '–'),
        el('td', {}, dash(o.dropped)), el('td', { className: 'muted' }, dash(o.last_error))));
    }
  }

  // In auto mode the director's current shot and layout are outlined
  // (.auto-on: what it chose); in manual mode filled (.on: the operator's
  // choice).  A click in auto mode takes over: the hint says so before, the
  // note after.
  let takeoverNote = false;
  function renderDirector(d) {
    d = d || {};
    const auto = d.mode === 'auto';
    const mark = (b, is) => { b.classList.toggle('on', is && !auto); b.classList.toggle('auto-on', is && auto); };
    document.querySelectorAll('#modes button').forEach((b) => b.classList.toggle('on', b.dataset.mode === d.mode));
    document.querySelectorAll('#layouts button').forEach((b) => mark(b, b.dataset.layout === d.layout));
    document.querySelectorAll('#shots button').forEach((b) => mark(b, (d.sources || [])[0] === b.dataset.shot));
    document.getElementById('reason').textContent = LB.reasonText(d);
    document.body.dataset.mode = d.mode || '';
    if (auto) takeoverNote = false;
    const hint = document.getElementById('take-hint');
    hint.textContent = auto ? t('auto_hint') : takeoverNote ? t('took_over') : '';
    hint.classList.toggle('notice', !auto && takeoverNote);
    for (const [, entry] of tiles) entry.tile.title = auto ? t('auto_hint') : entry.tile.dataset.source;
  }

  function render(s) {
    status = s;
    LB.noteLabels(s);
    const shots = document.getElementById('shots');
    for (const src of s.sources || []) {
      const entry = tile(src);
      entry.stateBadge.className = 'badge ' + (src.state || '');
      entry.stateBadge.textContent = LB.tv('state_', src.state);
      entry.labelText.textContent = (src.label || src.name) +
        (src.role && src.role !== src.name ? ' · ' + LB.tv('srole_', src.role) : '');
      if (!shots.querySelector('[data-shot="' + CSS.escape(src.name) + '"]')) {
        const b = el('button', { type: 'button', onclick: () => take(src.name) }, src.label || src.name);
        b.dataset.shot = src.name;
        shots.appendChild(b);
      }
    }
    // a status built before the newest decision (its program time says so)
    // would put the tally back for a moment; a program time far behind it
    // is a restarted pipeline
    const at = s.program && typeof s.program.time_s === 'number' ? s.program.time_s : Infinity;
    if (at < decidedAt - 5) decidedAt = -Infinity;
    if (s.director && at >= decidedAt) { renderDirector(s.director); setTally(s.director.sources); }
    for (const m of s.mics || []) showMic(m);
    renderTables(s);
    renderOverload(s.program);
    const rec = s.recording || {};
    recording = !!rec.active;
    recTitle = rec.title || '';
    recLive = rec.live !== false;
    elapsedAt = Number(rec.elapsed_s) || 0;
    reportedAt = performance.now();
    document.body.classList.toggle('recording', recording);
    document.getElementById('rec-button').textContent = t(recording ? 'stop' : 'record');
    showRecFields(rec);
    tickRecording();
    if (s.disk && s.disk.total_bytes) {
      document.getElementById('disk-text').textContent = LB.diskText(s.disk.free_bytes, s.disk.total_bytes);
      document.getElementById('disk-fill').style.width = (100 - s.disk.free_bytes / s.disk.total_bytes * 100).toFixed(1) + '%';
    }
  }

  async function director(body) {
    const r = await LB.api('/api/v1/director', { method: 'POST', body });
    const err = document.getElementById('error');
    if (r.status !== 200) { err.textContent = LB.errText(r); return; }
    err.textContent = '';
    if (status) status.director = r.data;
    // the answer says what is on the air until the next tick composes the
    // take: the buttons show the take, the tally waits for its decision
    const taken = body.mode === 'manual' && body.shot;
    renderDirector(taken ? Object.assign({}, r.data, { shot: body.shot, sources: [body.shot],
                                                     layout: body.layout || r.data.layout }) : r.data);
  }

  const isAuto = () => !!(status && status.director && status.director.mode === 'auto');

  async function take(name) {
    const layout = (status && status.director && status.director.layout) || 'single';
    if (isAuto()) takeoverNote = true;
    await director({ mode: 'manual', shot: name, layout });
    programNext = 0;              // show the take as soon as it is on the air
  }

  document.querySelectorAll('#modes button').forEach((b) => b.addEventListener('click', () => {
    const d = (status && status.director) || {};
    director(b.dataset.mode === 'auto' ? { mode: 'auto' } : { mode: 'manual', shot: (d.sources || [])[0] || d.shot, layout: d.layout });
  }));
  document.querySelectorAll('#layouts button').forEach((b) => b.addEventListener('click', () => {
    const d = (status && status.director) || {};
    if (isAuto()) takeoverNote = true;
    director({ mode: 'manual', shot: (d.sources || [])[0] || d.shot, layout: b.dataset.layout });
  }));
  // Start with the lesson's metadata (lesson.json, episode.xml); empty
  // fields are left to [general] and the title template.
  const recFields = ['title', 'teacher', 'subject', 'grade', 'class', 'lesson_type'];
  const recInput = (n) => document.getElementById('rec-' + n);
  document.getElementById('rec-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    if (recording && !confirm(t('confirm_stop'))) return;
    const body = { action: recording ? 'stop' : 'start' };
    if (!recording) for (const n of recFields) { const v = recInput(n).value.trim(); if (v) body[n] = v; }
    // unticked: recorded only, the live outputs that follow the schedule pause
    // (ticked sends nothing: the outputs as configured, as before)
    if (!recording && !recInput('live').checked) body.live = false;
    const r = await LB.api('/api/v1/recording', { method: 'POST', body });
    const err = document.getElementById('error');
    if (r.status === 200) { err.textContent = ''; render(r.data); }
    else err.textContent = LB.errText(r);
  });
  function showRecFields(rec) {
    for (const n of recFields) {
      const f = recInput(n);
      f.disabled = recording;
      if (recording && rec[n] !== undefined) f.value = rec[n] || '';
    }
    const live = recInput('live');
    live.disabled = recording;
    if (recording) live.checked = rec.live !== false;
  }

  // Overload: the program fell behind real time (late ticks, skipped
  // pictures) or sheds work (daemon/overload.c).  The banner stays while the
  // counters rose within the last minute or a shedding step holds.
  const OVERLOAD_HOLD_MS = 60000;
  let lastLate = null, lastSkipped = null, overloadAt = 0;
  // the step by its level, in the page's language; a step the page does not
  // know (a newer daemon) in the server's English
  function shedText(pg) {
    const key = 'shed_step_' + pg.shed_level;
    return LB_STR.en[key] ? t(key) : (pg.shedding || '');
  }
  function renderOverload(pg) {
    if (!pg) return;
    const late = Number(pg.late_frames) || 0, skipped = Number(pg.skipped_frames) || 0;
    const now = performance.now();
    if ((lastLate !== null && late > lastLate) || (lastSkipped !== null && skipped > lastSkipped)) overloadAt = now;
    lastLate = late; lastSkipped = skipped;
    const shedding = Number(pg.shed_level) > 0;
    const on = shedding || (overloadAt && now - overloadAt < OVERLOAD_HOLD_MS);
    const banner = document.getElementById('overload');
    banner.hidden = !on;
    banner.textContent = on ? '⚠ ' + t('overload_now') + ' ' + t('overload_counts')
      .replace('{late}', late).replace('{skipped}', skipped) +
      (shedding ? ' · ' + t('overload_shedding') + ' ' + pg.shed_level + ': ' + shedText(pg) : '') : '';
    const health = document.getElementById('program-health');
    health.hidden = !(late || skipped);
    health.textContent = t('overload_counts').replace('{late}', late).replace('{skipped}', skipped);
  }

  // Alerts: the banner, and a badge on the camera's tile or the mic's meter.
  function renderAlerts(list) {
    LB.renderAlertBanner(list);
    const on = new Map();
    for (const a of list) {
      const k = a.subject;
      on.set(k, (on.get(k) ? on.get(k) + ' · ' : '') + LB.alertText(a));
    }
    for (const [name, entry] of tiles) {
      entry.tile.classList.toggle('alerting', list.some((a) => a.subject === name && /^(camera_|substream_)/.test(a.alert)));
      entry.tile.title = on.get(name) || (isAuto() ? t('auto_hint') : name);
    }
    for (const row of document.querySelectorAll('#meters .meter')) {
      const bad = list.some((a) => a.subject === row.dataset.name && (a.alert.startsWith('mic') || a.alert === 'av_drift'));
      row.classList.toggle('alerting', bad);
      row.title = bad ? on.get(row.dataset.name) : '';
    }
  }
  let alertList = [];
  const alerts = LB.alertTracker((list) => { alertList = list; renderAlerts(list); });

  // the schedule: what records now and next, and a feed or clock that fails
  function renderSchedule(sc) {
    if (!sc) return;
    document.getElementById('sched-now').textContent = LB.lessonText(sc.current, sc.timezone);
    document.getElementById('sched-next').textContent = LB.lessonText(sc.next, sc.timezone);
    const f = sc.feed || {};
    document.getElementById('sched-error').textContent = [f.last_error, sc.conflict, sc.error,
      (sc.timetable || {}).error, sc.clock && sc.clock.synchronised === false ? t('clock_unsynced') : '']
      .filter(Boolean).join(' · ');
  }
  let schedule = null;
  const sc = await LB.api('/api/v1/schedule');
  if (sc.status === 200) renderSchedule(schedule = sc.data);
  // another language: the texts this page drew from the status again
  LB.onLang(() => {
    if (status) render(status);
    renderAlerts(alertList);
    renderSchedule(schedule);
  });

  const st = await LB.api('/api/v1/status');
  if (st.status === 200) render(st.data);
  refreshSnapshots();
  LB.events((ev) => {
    alerts.handle(ev);
    if (ev.type === 'status') { render(LB.statusOf(ev)); renderAlerts(alertList); }
    else if (ev.type === 'meters') {
      if (ev.program !== undefined) setMeter(PROGRAM_METER, ev.program);
      const mics = ev.mics || {};
      if (Array.isArray(mics)) mics.forEach((m) => setMeter(m.name, m.level_dbfs));
      else for (const [name, db] of Object.entries(mics)) setMeter(name, db);
    } else if (ev.type === 'tally') setTally(ev.program);
    else if (ev.type === 'decision') {
      if (typeof ev.program_s === 'number') decidedAt = ev.program_s;
      setTally(ev.sources);
      document.getElementById('reason').textContent = LB.reasonText(ev);
    }
  });
})();
