/* The library player's re-cut tools (issue #20 item 3): the lesson's shots
 * as a strip (one block per shot, coloured by camera, the director's reason
 * on hover), a range chosen by dragging across it (or a click and a
 * shift-click), another camera and layout for it, a preview (the chosen
 * camera's own file from the range's start, in the player), the re-cut run
 * by the daemon in the background (POST .../recut, its progress polled) and
 * the lesson's versions (play, download, the one uploaded: PUT .../version).
 * lesson-edit.js calls LB_lessonRecut.open(rec, video, select, root). */
'use strict';

const LB_lessonRecut = (() => {
  const { el, t, tf } = LB;
  const COLOURS = ['#2e86de', '#e67e22', '#27ae60', '#8e44ad', '#c0392b', '#16a085', '#f1c40f', '#7f8c8d'];
  // mm:ss.s, as the chapters' times (a range is chosen to the tenth)
  const fmt = (s) => {
    s = Math.max(0, Number(s) || 0);
    const m = Math.floor(s / 60), sec = s - 60 * m;
    return String(m).padStart(2, '0') + ':' + sec.toFixed(1).padStart(4, '0');
  };
  const round3 = (x) => Math.round(x * 1000) / 1000;
  const errText = (r) => (LB.errText ? LB.errText(r) : null) || (r.data && r.data.error) || ('HTTP ' + r.status);
  const api = (rec, sub) => '/api/v1/recordings/' + encodeURIComponent(rec.id) + sub;

  // the player plays path (an option added when the file is new)
  function play(rec, video, select, path, at) {
    if (![...select.options].some((o) => o.value === path)) select.append(el('option', { value: path }, path));
    select.value = path;
    if (select.onchange) select.onchange();
    const seek = () => { video.currentTime = at || 0; video.play().catch(() => {}); };
    if (video.readyState >= 1) seek();
    else video.addEventListener('loadedmetadata', seek, { once: true });
  }

  async function versions(rec, video, select, box) {
    const r = await LB.api(api(rec, ''));
    if (r.status !== 200) return;
    const lj = r.data;
    const list = lj.versions && lj.versions.length ? lj.versions : [{ file: 'program.mp4', kind: 'live' }];
    const chosen = lj.upload_version || 'program.mp4';
    box.textContent = '';
    box.append(el('h4', {}, t('recut_versions')));
    for (const v of list) {
      const msg = el('span', { className: 'error' });
      const row = el('div', { className: 'buttons recut-version', dataset: { file: v.file } },
        el('span', {}, v.file === 'program.mp4' ? t('recut_live') : v.file),
        el('button', { type: 'button', className: 'play', onclick: () => play(rec, video, select, v.file, 0) }, t('play')),
        el('a', { className: 'button', href: '/recordings/' + encodeURIComponent(rec.id) + '/' + encodeURIComponent(v.file),
                  download: rec.id + '-' + v.file }, t('download')),
        v.file === chosen ? el('span', { className: 'muted recut-chosen' }, t('recut_chosen'))
          : el('button', { type: 'button', className: 'recut-use', onclick: async () => {
            const res = await LB.api(api(rec, '/version'), { method: 'PUT', body: { file: v.file } });
            if (res.status === 200) versions(rec, video, select, box);
            else msg.textContent = errText(res);
          } }, t('recut_use')), msg);
      box.append(row);
    }
  }

  async function open(rec, video, select, root) {
    const r = await LB.api(api(rec, '/shots'));
    if (r.status !== 200) return;       // no decision log (or still recording): nothing to re-cut
    const { shots, sources } = r.data;
    const dur = r.data.duration_s || (shots.length ? shots[shots.length - 1].end : 0);
    if (!dur || !shots.length) return;
    const colour = {};
    sources.forEach((s, i) => { colour[s.name] = COLOURS[i % COLOURS.length]; });
    const strip = el('div', { className: 'shot-strip', id: 'shot-strip' });
    const pct = (x) => (100 * x / dur) + '%';
    for (const s of shots) {
      const main = (s.sources || [])[0];
      strip.append(el('div', { className: 'shot', title: fmt(s.start) + '–' + fmt(s.end) + ' · ' +
          (s.sources || []).join(' + ') + ' · ' + LB.reasonText(s),
        style: 'left:' + pct(s.start) + ';width:' + pct(s.end - s.start) + ';background:' + (colour[main] || '#999'),
        dataset: { start: s.start, end: s.end, source: main || '' } }));
    }
    const sel = el('div', { className: 'shot-selection hidden' });
    strip.append(sel);
    const legend = el('div', { className: 'shot-legend' },
      ...sources.map((s) => el('span', {}, el('i', { style: 'background:' + colour[s.name] }), s.name)));
    let from = null, to = null, anchor = null;
    const range = el('span', { className: 'muted', id: 'recut-range' }, t('recut_pick'));
    const show = () => {
      if (from === null) return;
      sel.classList.remove('hidden');
      sel.style.left = pct(from);
      sel.style.width = pct(to - from);
      range.textContent = fmt(from) + ' – ' + fmt(to);
    };
    const timeAt = (e) => {
      const b = strip.getBoundingClientRect();
      return round3(Math.min(dur, Math.max(0, (e.clientX - b.left) / b.width * dur)));
    };
    const setRange = (a, b) => { from = Math.min(a, b); to = Math.max(a, b); show(); };
    let dragging = false;
    strip.addEventListener('mousedown', (e) => {
      e.preventDefault();
      const x = timeAt(e);
      if (e.shiftKey && anchor !== null) { setRange(anchor, x); return; }
      anchor = x;
      dragging = true;
    });
    strip.addEventListener('mousemove', (e) => { if (dragging && Math.abs(timeAt(e) - anchor) > 0) setRange(anchor, timeAt(e)); });
    window.addEventListener('mouseup', (e) => {
      if (!dragging) return;
      dragging = false;
      const x = timeAt(e);
      if (x === anchor) {             // a click: the shot under it
        const s = shots.find((sh) => sh.start <= x && x < sh.end) || shots[shots.length - 1];
        setRange(s.start, s.end);
      } else {
        setRange(anchor, x);
      }
    });
    const cam = el('select', { id: 'recut-shot' }, ...sources.map((s) => el('option', { value: s.name }, s.name)));
    const layout = el('select', { id: 'recut-layout' }, ...['single', 'pip', 'sbs'].map((l) => el('option', { value: l }, t(l))));
    const withCam = el('select', { id: 'recut-with', className: 'hidden' }, ...sources.map((s) => el('option', { value: s.name }, s.name)));
    layout.addEventListener('change', () => withCam.classList.toggle('hidden', layout.value === 'single'));
    const bar = el('progress', { id: 'recut-progress', max: 100, value: 0, className: 'hidden' });
    const msg = el('div', { className: 'muted', id: 'recut-msg' });
    const vbox = el('div', { id: 'recut-versions' });
    const preview = () => {
      if (from === null) { msg.textContent = t('recut_pick'); return; }
      play(rec, video, select, 'iso/' + cam.value + '.mp4', from);
    };
    const poll = async () => {
      const st = await LB.api(api(rec, '/recut'));
      if (st.status !== 200) { setTimeout(poll, 2000); return; }
      bar.value = st.data.percent || 0;
      if (st.data.state === 'running') {
        msg.textContent = tf('recut_progress', { percent: st.data.percent || 0 });
        setTimeout(poll, 1000);
        return;
      }
      bar.classList.add('hidden');
      run.disabled = false;
      msg.className = st.data.state === 'done' ? 'muted' : 'error';
      msg.textContent = st.data.state === 'done' ? tf('recut_done', { file: st.data.file })
        : tf('recut_failed', { error: st.data.error || '' });
      if (st.data.state === 'done') versions(rec, video, select, vbox);
    };
    const run = el('button', { type: 'button', className: 'primary', id: 'recut-run', onclick: async () => {
      if (from === null) { msg.textContent = t('recut_pick'); return; }
      const edit = { from, to, shot: cam.value, layout: layout.value };
      if (layout.value !== 'single') edit['with'] = withCam.value;
      const res = await LB.api(api(rec, '/recut'), { method: 'POST', body: { edits: [edit] } });
      if (res.status !== 202) { msg.className = 'error'; msg.textContent = errText(res); return; }
      msg.className = 'muted';
      msg.textContent = tf('recut_progress', { percent: 0 });
      bar.value = 0;
      bar.classList.remove('hidden');
      run.disabled = true;
      setTimeout(poll, 500);
    } }, t('recut_run'));
    root.append(el('h3', {}, t('recut')), strip, legend,
      el('div', { className: 'buttons' }, range,
        el('label', { htmlFor: 'recut-shot' }, t('shot')), cam,
        el('label', { htmlFor: 'recut-layout' }, t('layout')), layout, withCam,
        el('button', { type: 'button', id: 'recut-preview', onclick: preview }, t('recut_preview')), run),
      bar, msg, vbox);
    versions(rec, video, select, vbox);
    // a re-cut of this lesson already running (another tab, a reload): its progress
    const st = await LB.api(api(rec, '/recut'));
    if (st.status === 200 && st.data.state === 'running') { bar.classList.remove('hidden'); run.disabled = true; poll(); }
  }
  return { open };
})();
