/* My account: change my own password, see and end my sessions. Every
 * signed-in user reaches it from their name in the header. */
'use strict';
(async () => {
  const s = await LB.requireSession();
  const { el, t } = LB;
  document.getElementById('pw-user').value = s.user;

  async function loadSessions() {
    const r = await LB.api('/api/v1/sessions');
    const tb = document.querySelector('#sessions tbody');
    tb.textContent = '';
    if (r.status !== 200) { document.getElementById('error').textContent = LB.errText(r); return; }
    for (const x of (r.data || []).filter((x) => x.user === s.user)) {
      const end = x.current ? el('span', { className: 'muted' }, t('session_current'))
        : el('button', { type: 'button', className: 'danger', onclick: async () => {
          const d = await LB.api('/api/v1/sessions/' + encodeURIComponent(x.ref), { method: 'DELETE' });
          if (d.status !== 204) document.getElementById('error').textContent = LB.errText(d);
          loadSessions();
        } }, t('end_session'));
      const row = el('tr', {}, el('td', {}, x.ip || '–'), el('td', {}, LB.fmtDate(x.created_at)),
        el('td', {}, LB.fmtDuration(x.idle_s)), el('td', {}, end));
      row.dataset.ref = x.ref;
      if (x.current) row.classList.add('current');
      tb.appendChild(row);
    }
  }

  document.getElementById('password-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const err = document.getElementById('pw-error');
    const done = document.getElementById('pw-done');
    err.textContent = '';
    done.classList.add('hidden');
    const pw = document.getElementById('pw-new').value;
    if (pw !== document.getElementById('pw-new2').value) { err.textContent = t('setup_mismatch'); return; }
    const r = await LB.api('/api/v1/password', { method: 'POST',
      body: { old: document.getElementById('pw-old').value, password: pw } });
    if (r.status !== 200) { err.textContent = LB.errText(r); return; }
    e.target.reset();
    document.getElementById('pw-user').value = s.user;
    done.classList.remove('hidden');
    loadSessions();
  });
  LB.onLang(loadSessions);
  loadSessions();
})();
