/* Finished lessons: play (program or any camera), download, edit, delete. */
'use strict';
(async () => {
  const s = await LB.requireSession('operator');
  const { el, t, dash } = LB;
  const isAdmin = LB.allows(s.role, 'admin');
  const enc = (p) => p.split('/').map(encodeURIComponent).join('/');

  function play(rec, path) {
    const files = (rec.files || []).filter((f) => /\.(mp4|m4a)$/.test(f.path));
    if (!files.length) return;
    const player = document.getElementById('player');
    const select = document.getElementById('file');
    const video = document.getElementById('video');
    player.classList.remove('hidden');
    document.getElementById('player-title').textContent = rec.title || rec.id;
    select.textContent = '';
    for (const f of files) select.appendChild(el('option', { value: f.path }, f.path + ' · ' + LB.fmtBytes(f.size)));
    select.value = path || files[0].path;
    const load = () => {
      const url = '/recordings/' + encodeURIComponent(rec.id) + '/' + enc(select.value);
      video.src = url;
      const dl = document.getElementById('file-download');
      dl.href = url;
      dl.download = rec.id + '-' + select.value.replace(/\//g, '-');
      video.play().catch(() => {});
    };
    // Chapters (from the director or the teacher) jump within the lesson.
    const chapters = document.getElementById('chapters');
    chapters.textContent = '';
    for (const ch of rec.chapters || []) {
      chapters.appendChild(el('button', { type: 'button', onclick: () => { video.currentTime = Number(ch.t) || 0; video.play().catch(() => {}); } },
        LB.fmtDuration(ch.t) + ' ' + (ch.title || '')));
    }
    select.onchange = load;
    load();
    player.scrollIntoView({ behavior: 'smooth' });
  }

  // the metadata the platform files a lesson under (lesson.json, episode.xml)
  const editable = ['title', 'teacher', 'course', 'subject', 'grade', 'class', 'lesson_type', 'description'];
  function edit(rec) {
    const dlg = document.getElementById('edit');
    for (const k of editable) document.getElementById('e-' + k).value = rec[k] || '';
    document.getElementById('e-keywords').value = (rec.keywords || []).join(', ');
    document.getElementById('edit-error').textContent = '';
    dlg.onclose = async () => {
      if (dlg.returnValue !== 'save') return;
      const body = {};
      for (const k of editable) body[k] = document.getElementById('e-' + k).value;
      body.keywords = document.getElementById('e-keywords').value.split(/[,，]/).map((w) => w.trim()).filter((w) => w);
      const r = await LB.api('/api/v1/recordings/' + encodeURIComponent(rec.id), { method: 'PATCH', body });
      if (r.status !== 200) document.getElementById('error').textContent = LB.errText(r);
      load();
    };
    dlg.showModal();
  }

  async function upload(rec) {
    const r = await LB.api('/api/v1/recordings/' + encodeURIComponent(rec.id) + '/upload', { method: 'POST' });
    if (r.status !== 202) document.getElementById('error').textContent = LB.errText(r);
    load();
  }

  async function remove(rec) {
    if (!confirm(t('confirm_delete') + '\n\n' + (rec.title || rec.id))) return;
    const r = await LB.api('/api/v1/recordings/' + encodeURIComponent(rec.id), { method: 'DELETE' });
    if (r.status !== 204) document.getElementById('error').textContent = LB.errText(r);
    load();
  }

  function uploadState(rec) {
    const u = rec.upload;
    if (!u) return '–';
    if (typeof u === 'string') return u;
    let text = u.state || u.status || '–';
    if (u.bytes_total && u.state !== 'done') text += ' ' + Math.floor(100 * (u.bytes_done || 0) / u.bytes_total) + '%';
    const badge = el('span', { className: 'badge ' + (u.state || ''), title: u.last_error || '' }, text);
    return badge;
  }

  document.getElementById('search-form').addEventListener('submit', (e) => { e.preventDefault(); load(); });

  async function load() {
    const q = document.getElementById('search').value.trim();
    const r = await LB.api('/api/v1/recordings?limit=1000' + (q ? '&q=' + encodeURIComponent(q) : ''));
    const tbody = document.querySelector('#list tbody');
    tbody.textContent = '';
    if (r.status !== 200) {
      document.getElementById('error').textContent = LB.errText(r);
      return;
    }
    const list = r.data.recordings || [];
    document.getElementById('empty').classList.toggle('hidden', list.length > 0);
    for (const rec of list) {
      const main = (rec.files || []).find((f) => f.path === 'program.mp4') || (rec.files || [])[0];
      const actions = el('div', { className: 'actions' });
      if (main) {
        actions.append(el('button', { type: 'button', className: 'play', onclick: () => play(rec) }, t('play')));
        actions.append(el('a', { className: 'button', href: '/recordings/' + encodeURIComponent(rec.id) + '/' + enc(main.path), download: rec.id + '-' + main.path.replace(/\//g, '-') }, t('download')));
      }
      if (rec.status !== 'recording') {
        actions.append(el('button', { type: 'button', onclick: () => edit(rec) }, t('edit')));
        // an operator retries a failed upload, or sends a lesson again
        if (rec.upload) actions.append(el('button', { type: 'button', className: 'upload', onclick: () => upload(rec) }, t('upload_again')));
        if (isAdmin) actions.append(el('button', { type: 'button', className: 'danger', onclick: () => remove(rec) }, t('del')));
      }
      const row = el('tr', {}, el('td', {}, dash(rec.title)), el('td', {}, dash(rec.teacher)),
        el('td', {}, dash(rec.course)), el('td', { className: 'hide-narrow' }, dash(rec.subject)),
        el('td', {}, LB.fmtDate(rec.started_at)),
        el('td', {}, LB.fmtDuration(rec.duration_s)),
        el('td', {}, el('span', { className: 'badge ' + (rec.status || '') }, dash(rec.status))),
        el('td', { className: 'hide-narrow' }, uploadState(rec)), el('td', {}, actions));
      row.dataset.id = rec.id;
      tbody.appendChild(row);
    }
  }
  load();
})();
