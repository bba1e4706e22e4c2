/* The library of finished lessons: search, filter, sort and page through
 * them (the API does the work: GET /api/v1/recordings), play any file,
 * download every file of a lesson, edit its details, retry its upload,
 * delete it.
 *
 * One lesson's details open in a dialog (#detail) built from sections:
 * files and upload here; a later feature adds its own section with
 * detailSections.push((rec, box) => ...). */
'use strict';
(async () => {
  const s = await LB.requireSession('operator');
  const { el, t, tf, tv, dash } = LB;
  const isAdmin = LB.allows(s.role, 'admin');
  const $ = (id) => document.getElementById(id);
  const enc = (p) => p.split('/').map(encodeURIComponent).join('/');
  const fileUrl = (rec, path) => '/recordings/' + encodeURIComponent(rec.id) + '/' + enc(path);
  const fileName = (rec, path) => rec.id + '-' + path.replace(/\//g, '-');
  const isMedia = (path) => /\.(mp4|m4a)$/.test(path);
  const showError = (r) => { $('error').textContent = LB.errText(r); };
  const apiRec = (rec, sub) => '/api/v1/recordings/' + encodeURIComponent(rec.id) + (sub || '');

  /* What a file of the lesson is, in words: program, a camera, a mic... */
  function fileLabel(path) {
    let m;
    if (path === 'program.mp4') return t('file_program');
    if ((m = /^iso\/(.+)\.mp4$/.exec(path))) return tf('file_camera', { name: m[1] });
    if ((m = /^audio\/(.+)\.m4a$/.exec(path))) return tf('file_mic', { name: m[1] });
    if (path === 'lesson.json') return t('file_lesson_json');
    if (path === 'episode.xml') return t('file_episode');
    if (path === 'director.jsonl') return t('file_director');
    return path;
  }

  // ---- the player ----
  const player = {
    open(rec, path) {
      const files = (rec.files || []).filter((f) => isMedia(f.path));
      if (!files.length) return;
      const select = $('file'), video = $('video');
      $('player').classList.remove('hidden');
      $('player-title').textContent = rec.title || rec.id;
      select.textContent = '';
      for (const f of files) select.appendChild(el('option', { value: f.path }, fileLabel(f.path) + ' · ' + LB.fmtBytes(f.size)));
      select.value = path || files[0].path;
      const play = () => {
        video.src = fileUrl(rec, select.value);
        $('file-download').href = video.src;
        $('file-download').download = fileName(rec, select.value);
        video.play().catch(() => {});
      };
      // Chapters (from the director or the teacher) jump within the lesson.
      const chapters = $('chapters');
      chapters.textContent = '';
      for (const ch of rec.chapters || []) {
        chapters.appendChild(el('button', { type: 'button', onclick: () => { video.currentTime = Number(ch.t) || 0; video.play().catch(() => {}); } },
          LB.fmtDuration(ch.t) + ' ' + LB.chapterText(ch)));
      }
      select.onchange = play;
      play();
      // chapters and clips of this lesson (www/lesson-edit.js)
      if (typeof LB_lessonEdit !== 'undefined') LB_lessonEdit.open(rec, video, select, () => load());
      $('player').scrollIntoView({ behavior: 'smooth' });
    },
    close() {
      const video = $('video');
      video.pause();
      video.removeAttribute('src');
      video.load();                  // lets the connection go
      $('player').classList.add('hidden');
    },
  };
  $('player-close').addEventListener('click', () => player.close());
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && !$('player').classList.contains('hidden') && !document.querySelector('dialog[open]')) player.close();
  });

  // ---- the lesson's details ----
  function uploadBadge(rec) {
    const u = rec.upload;
    if (!u) return el('span', { className: 'muted' }, t('upload_none'));
    const state = typeof u === 'string' ? u : (u.state || u.status || '');
    let text = tv('state_', state);
    if (u.bytes_total && state !== 'done') text += ' ' + Math.floor(100 * (u.bytes_done || 0) / u.bytes_total) + '%';
    return el('span', { className: 'badge upload-state ' + state, title: u.last_error || '' }, text);
  }
  function uploadButton(rec) {
    if (!rec.upload || rec.status === 'recording') return null;
    const state = rec.upload.state || '';
    const key = state === 'failed' || state === 'waiting' ? 'upload_retry' : state === 'done' ? 'upload_again_done' : 'upload_again';
    return el('button', { type: 'button', className: 'upload', onclick: () => upload(rec) }, t(key));
  }

  const detailSections = [
    (rec, box) => {                     // every file, each downloadable
      const tb = el('tbody');
      for (const f of rec.files || []) {
        const actions = el('div', { className: 'actions' },
          el('a', { className: 'button file-download', href: fileUrl(rec, f.path), download: fileName(rec, f.path),
                    dataset: { path: f.path } }, t('download')));
        if (isMedia(f.path)) actions.prepend(el('button', { type: 'button', className: 'play', onclick: () => { $('detail').close(); player.open(rec, f.path); } }, t('play')));
        const row = el('tr', {}, el('td', {}, fileLabel(f.path), f.path !== fileLabel(f.path) ? el('div', { className: 'muted small' }, f.path) : null),
          el('td', {}, LB.fmtBytes(f.size)), el('td', {}, actions));
        row.dataset.path = f.path;
        tb.appendChild(row);
      }
      box.append(el('h3', {}, t('files')), el('table', { id: 'detail-files' },
        el('thead', {}, el('tr', {}, el('th', {}, t('file')), el('th', {}, t('size')), el('th'))), tb));
    },
    (rec, box) => {                     // the upload, with a retry
      box.append(el('h3', {}, t('upload')), el('div', { className: 'buttons', id: 'detail-upload' }, uploadBadge(rec), uploadButton(rec)));
      if (rec.upload && rec.upload.last_error) box.append(el('p', { className: 'muted small' }, rec.upload.last_error));
    },
    (rec, box) => {                     // the program's versions (re-cuts: www/lesson-recut.js in the player)
      if (rec.status === 'recording' || rec.clip || !(rec.files || []).some((f) => f.path === 'director.jsonl')) return;
      const chosen = rec.upload_version || 'program.mp4';
      const list = el('div', { id: 'detail-versions' });
      for (const v of rec.versions && rec.versions.length ? rec.versions : [{ file: 'program.mp4' }]) {
        list.append(el('div', { className: 'buttons', dataset: { file: v.file } },
          el('span', {}, v.file === 'program.mp4' ? t('recut_live') : v.file),
          el('button', { type: 'button', className: 'play', onclick: () => { $('detail').close(); player.open(rec, v.file); } }, t('play')),
          v.file === chosen ? el('span', { className: 'muted recut-chosen' }, t('recut_chosen')) : null));
      }
      box.append(el('h3', {}, t('recut_versions')), list, el('div', { className: 'buttons' },
        el('button', { type: 'button', id: 'detail-recut', onclick: () => { $('detail').close(); player.open(rec, 'program.mp4'); } },
          t('recut_open'))));
    },
  ];

  async function openDetail(rec) {
    const dlg = $('detail');
    // the newest state of the lesson (its upload may have moved on)
    const r = await LB.api(apiRec(rec));
    if (r.status === 200) rec = r.data;
    $('detail-title').textContent = rec.title || rec.id;
    const klass = [rec.grade, rec['class']].filter(Boolean).join(' ');
    $('detail-meta').textContent = [rec.teacher, rec.course, rec.subject, klass,
      rec.lesson_type ? tv('lt_', rec.lesson_type) : '', LB.fmtDate(rec.started_at), LB.fmtDuration(rec.duration_s)]
      .filter((x) => x && x !== '–').join(' · ');
    const box = $('detail-body');
    box.textContent = '';
    $('detail-error').textContent = '';
    for (const section of detailSections) section(rec, box);
    dlg.dataset.id = rec.id;
    if (!dlg.open) dlg.showModal();
  }
  $('detail-close').addEventListener('click', () => $('detail').close());

  // ---- edit, upload, delete ----
  // the metadata the platform files a lesson under (lesson.json, episode.xml)
  const editable = ['title', 'teacher', 'course', 'subject', 'grade', 'class', 'lesson_type', 'description'];
  function edit(rec) {
    const dlg = $('edit');
    for (const k of editable) $('e-' + k).value = rec[k] || '';
    $('e-keywords').value = (rec.keywords || []).join(', ');
    $('edit-error').textContent = '';
    $('edit-id').textContent = (rec.title || '') + ' · ' + rec.id;
    dlg.onclose = async () => {
      if (dlg.returnValue !== 'save') return;
      const body = {};
      for (const k of editable) body[k] = $('e-' + k).value;
      body.keywords = $('e-keywords').value.split(/[,，]/).map((w) => w.trim()).filter((w) => w);
      const r = await LB.api(apiRec(rec), { method: 'PATCH', body });
      if (r.status !== 200) showError(r);
      load();
    };
    dlg.returnValue = '';
    dlg.showModal();
  }

  async function upload(rec) {
    const r = await LB.api(apiRec(rec, '/upload'), { method: 'POST' });
    if (r.status !== 202) {
      showError(r);
      if ($('detail').open) $('detail-error').textContent = LB.errText(r);
    } else if ($('detail').open) {
      openDetail(r.data || rec);
    }
    load();
  }

  async function remove(rec) {
    if (!confirm(t('confirm_delete') + '\n\n' + (rec.title || rec.id))) return;
    const r = await LB.api(apiRec(rec), { method: 'DELETE' });
    if (r.status !== 204) showError(r);
    load();
  }

  // ---- the query: search, filters, sort, page (kept in the address) ----
  const FIELDS = { q: 'search', from: 'f-from', to: 'f-to', subject: 'f-subject', grade: 'f-grade',
                   lesson_type: 'f-type', status: 'f-status', upload: 'f-upload', sort: 'f-sort', limit: 'f-limit' };
  let offset = 0;
  function readQuery() {
    const p = new URLSearchParams();
    for (const [key, id] of Object.entries(FIELDS)) {
      const v = $(id).value.trim();
      if (v && !(key === 'sort' && v === '-started_at')) p.set(key, v);
    }
    if (offset) p.set('offset', String(offset));
    return p;
  }
  function writeQuery(p) {
    for (const [key, id] of Object.entries(FIELDS)) {
      const v = p.get(key);
      if (v !== null) $(id).value = v;
    }
    offset = Math.max(0, parseInt(p.get('offset') || '0', 10) || 0);
    if (!$('f-limit').value) $('f-limit').value = '50';
    if (!$('f-sort').value) $('f-sort').value = '-started_at';
  }
  const seen = { subjects: new Set(), grades: new Set() };
  function remember(list) {
    for (const rec of list) {
      for (const [set, key, dl] of [[seen.subjects, 'subject', 'subjects'], [seen.grades, 'grade', 'grades']]) {
        if (rec[key] && !set.has(rec[key])) { set.add(rec[key]); $(dl).appendChild(el('option', { value: rec[key] })); }
      }
    }
  }

  function row(rec) {
    const main = (rec.files || []).find((f) => f.path === 'program.mp4') || (rec.files || []).find((f) => isMedia(f.path));
    const actions = el('div', { className: 'actions' });
    if (main) {
      actions.append(el('button', { type: 'button', className: 'play', onclick: () => player.open(rec) }, t('play')));
      actions.append(el('a', { className: 'button download', href: fileUrl(rec, main.path), download: fileName(rec, main.path) }, t('download')));
    }
    actions.append(el('button', { type: 'button', className: 'files', onclick: () => openDetail(rec) },
      tf('files_n', { n: (rec.files || []).length })));
    if (rec.status !== 'recording') {
      actions.append(el('button', { type: 'button', className: 'edit', onclick: () => edit(rec) }, t('edit')));
      const up = uploadButton(rec);
      if (up) actions.append(up);
      if (isAdmin) actions.append(el('button', { type: 'button', className: 'danger', onclick: () => remove(rec) }, t('del')));
    }
    const tr = el('tr', {}, el('td', {}, dash(rec.title)), el('td', {}, dash(rec.teacher)),
      el('td', {}, dash(rec.course)), el('td', { className: 'hide-narrow' }, dash(rec.subject)),
      el('td', {}, LB.fmtDate(rec.started_at)),
      el('td', {}, runningDuration(rec)),
      el('td', {}, el('span', { className: 'badge ' + (rec.status || '') }, tv('state_', rec.status))),
      el('td', { className: 'hide-narrow' }, uploadBadge(rec)), el('td', {}, actions));
    tr.dataset.id = rec.id;
    return tr;
  }

  let loading = 0;
  async function load() {
    const p = readQuery();
    if (!p.has('limit')) p.set('limit', $('f-limit').value);
    history.replaceState(null, '', location.pathname + (p.toString() ? '?' + p : ''));
    const mine = ++loading;
    const r = await LB.api('/api/v1/recordings?' + p);
    if (mine !== loading) return;      // a newer query answered first
    const tbody = document.querySelector('#list tbody');
    tbody.textContent = '';
    $('error').textContent = '';
    if (r.status !== 200) { showError(r); return; }
    const list = r.data.recordings || [];
    const total = r.data.total || 0, limit = Number(p.get('limit'));
    if (!list.length && offset > 0 && total > 0) {   // the page emptied (deletions): the last one
      offset = Math.max(0, Math.floor((total - 1) / limit) * limit);
      load();
      return;
    }
    remember(list);
    $('empty').classList.toggle('hidden', list.length > 0);
    for (const rec of list) tbody.appendChild(row(rec));
    $('page-info').textContent = total ? tf('page_info', { from: offset + 1, to: offset + list.length, total,
      page: Math.floor(offset / limit) + 1, pages: Math.ceil(total / limit) }) : '';
    $('page-info').dataset.total = String(total);
    $('page-prev').disabled = offset <= 0;
    $('page-next').disabled = offset + limit >= total;
  }

  $('search-form').addEventListener('submit', (e) => { e.preventDefault(); offset = 0; load(); });
  for (const id of ['f-from', 'f-to', 'f-type', 'f-status', 'f-upload', 'f-sort', 'f-limit']) {
    $(id).addEventListener('change', () => { offset = 0; load(); });
  }
  $('clear-filters').addEventListener('click', () => {
    $('search-form').reset();
    offset = 0;
    load();
  });
  $('page-prev').addEventListener('click', () => { offset = Math.max(0, offset - Number($('f-limit').value)); load(); });
  $('page-next').addEventListener('click', () => { offset += Number($('f-limit').value); load(); });

  writeQuery(new URLSearchParams(location.search));
  LB.onLang(() => { load(); if ($('detail').open) openDetail({ id: $('detail').dataset.id }); });
  load();
  // A lesson being recorded: its length runs from started_at (lesson.json's
  // duration_s is written at the end).
  function runningDuration(rec) {
    const from = Date.parse(rec.started_at);
    if (rec.status !== 'recording' || isNaN(from)) return LB.fmtDuration(rec.duration_s);
    const span = el('span', { className: 'running' }, LB.fmtDuration((Date.now() - from) / 1000));
    span.dataset.from = String(from);
    return span;
  }
  setInterval(() => document.querySelectorAll('#list .running').forEach((e) => {
    e.textContent = LB.fmtDuration((Date.now() - Number(e.dataset.from)) / 1000);
  }), 1000);
})();
