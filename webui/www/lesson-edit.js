/* The library player's per-lesson tools (issue #20): the lesson's chapters
 * (add at the player's time, rename, remove; PUT .../chapters) and a clip of
 * the file playing (in and out from the player's time; POST .../clips).
 * recordings.js calls LB_lessonEdit.open(rec, video, fileSelect, reload)
 * when a lesson is played; everything lives in #lesson-edit. */
'use strict';

const LB_lessonEdit = (() => {
  const { el, t } = LB;
  const fmt = (s) => {
    s = Math.max(0, Number(s) || 0);
    const m = Math.floor(s / 60), sec = s - 60 * m;
    return String(m).padStart(2, '0') + ':' + sec.toFixed(1).padStart(4, '0');
  };
  // "mm:ss.s", "hh:mm:ss" or seconds; NaN when it is none of them
  const parse = (text) => {
    const parts = String(text).trim().split(':');
    if (!parts.length || parts.length > 3 || parts.some((p) => !/^\d+(\.\d+)?$/.test(p))) return NaN;
    return parts.reduce((acc, p) => acc * 60 + Number(p), 0);
  };
  const errText = (r) => (LB.errText ? LB.errText(r) : null) ||
    (r.data && r.data.error) || ('HTTP ' + r.status);

  function chapterEditor(rec, video, root) {
    const list = el('div', { className: 'chapter-list' });
    const msg = el('div', { className: 'error' });
    const row = (ch) => {
      const time = el('input', { className: 'ch-time', value: fmt(ch.t), size: 8, title: t('ch_time') });
      const title = el('input', { className: 'ch-title', value: ch.title || '', maxLength: 255, title: t('ch_title') });
      const r = el('div', { className: 'buttons chapter-row' },
        el('button', { type: 'button', onclick: () => { video.currentTime = parse(time.value) || 0; } }, '▶'),
        time, title,
        el('button', { type: 'button', className: 'danger', onclick: () => r.remove() }, t('ch_remove')));
      list.append(r);
    };
    for (const ch of rec.chapters || []) row(ch);
    const save = async () => {
      const chapters = [];
      for (const r of list.querySelectorAll('.chapter-row')) {
        const tv = parse(r.querySelector('.ch-time').value);
        if (isNaN(tv)) { msg.textContent = t('ch_bad_time'); return; }
        chapters.push({ t: Math.round(tv * 1000) / 1000, title: r.querySelector('.ch-title').value.trim() });
      }
      const res = await LB.api('/api/v1/recordings/' + encodeURIComponent(rec.id) + '/chapters',
        { method: 'PUT', body: { chapters } });
      msg.className = res.status === 202 ? 'muted' : 'error';
      msg.textContent = res.status === 202 ? t('ch_saved') : errText(res);
      if (res.status === 202) rec.chapters = res.data.chapters;
    };
    root.append(el('h3', {}, t('chapters')), list,
      el('div', { className: 'buttons' },
        el('button', { type: 'button', id: 'ch-add', onclick: () => row({ t: video.currentTime, title: '' }) }, t('ch_add')),
        el('button', { type: 'button', className: 'primary', id: 'ch-save', onclick: save }, t('ch_save'))),
      msg);
  }

  function clipMaker(rec, video, select, root, reload) {
    let from = null, to = null;
    const range = el('span', { className: 'muted', id: 'clip-range' }, '–');
    const msg = el('div', { className: 'error' });
    const show = () => { range.textContent = (from === null ? '…' : fmt(from)) + ' – ' + (to === null ? '…' : fmt(to)); };
    const make = async () => {
      if (from === null || to === null) { msg.textContent = t('clip_need_range'); return; }
      const res = await LB.api('/api/v1/recordings/' + encodeURIComponent(rec.id) + '/clips',
        { method: 'POST', body: { file: select.value, from: Math.round(from * 1000) / 1000, to: Math.round(to * 1000) / 1000 } });
      msg.className = res.status === 202 ? 'muted' : 'error';
      msg.textContent = res.status === 202 ? t('clip_started') + ' ' + res.data.id : errText(res);
      if (res.status === 202 && reload) setTimeout(reload, 2000);
    };
    root.append(el('h3', {}, t('clip')),
      el('div', { className: 'buttons' },
        el('button', { type: 'button', id: 'clip-in', onclick: () => { from = video.currentTime; show(); } }, t('clip_in')),
        el('button', { type: 'button', id: 'clip-out', onclick: () => { to = video.currentTime; show(); } }, t('clip_out')),
        range,
        el('button', { type: 'button', className: 'primary', id: 'clip-make', onclick: make }, t('clip_make'))),
      msg);
  }

  // the player shows the chapters file beside program.mp4 (WebVTT chapter cues)
  function chaptersTrack(rec, video, select) {
    for (const tr of video.querySelectorAll('track')) tr.remove();
    if (select.value !== 'program.mp4') return;
    video.append(el('track', { kind: 'chapters', default: true, srclang: LB.lang,
      src: '/recordings/' + encodeURIComponent(rec.id) + '/program.chapters.vtt' }));
  }

  function open(rec, video, select, reload) {
    const root = document.getElementById('lesson-edit');
    if (!root) return;
    root.textContent = '';
    chaptersTrack(rec, video, select);
    select.addEventListener('change', () => chaptersTrack(rec, video, select));
    if (rec.status === 'recording') return;
    chapterEditor(rec, video, root);
    if (rec.clip) {
      // a clip is a lesson of its own: it goes to the platform when asked
      const msg = el('div', { className: 'error' });
      root.append(el('div', { className: 'buttons' }, el('button', { type: 'button', className: 'upload', onclick: async () => {
        const res = await LB.api('/api/v1/recordings/' + encodeURIComponent(rec.id) + '/upload', { method: 'POST' });
        msg.textContent = res.status === 202 ? '' : errText(res);
        if (res.status === 202 && reload) reload();
      } }, t('upload_again'))), msg);
      return;
    }
    clipMaker(rec, video, select, root, reload);
    // the shots and a re-cut of them (www/lesson-recut.js)
    if (typeof LB_lessonRecut !== 'undefined') LB_lessonRecut.open(rec, video, select, root);
  }
  return { open };
})();
