/* The timetable (课表), for operators and admins: its entries listed and
 * edited field by field (whatever fields the timetable's format has, see
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
    if (res.status !== 200) { fail({ status: res.status, data }); return; }
    saved.textContent = t('saved');
    doc = data;
    render();
    schedule();
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

  await load();
  await schedule();
  LB.events((ev) => { if (ev.type === 'schedule') schedule(ev.schedule); });
  LB.onLang(() => { render(); schedule(); });
})();
