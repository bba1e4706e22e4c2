/* Users and API tokens (admin only). */
'use strict';
(async () => {
  await LB.requireSession('admin');
  const { el, t } = LB;
  const fail = (r) => { document.getElementById('error').textContent = LB.errText(r); };

  async function load() {
    const u = await LB.api('/api/v1/users');
    const ub = document.querySelector('#users tbody');
    ub.textContent = '';
    for (const user of u.data || []) {
      const del = user.from_config ? '' : el('button', { type: 'button', className: 'danger', onclick: async () => {
        if (!confirm(t('del') + ' ' + user.name + '?')) return;
        const r = await LB.api('/api/v1/users/' + encodeURIComponent(user.name), { method: 'DELETE' });
        if (r.status !== 204) fail(r);
        load();
      } }, t('del'));
      ub.appendChild(el('tr', {}, el('td', {}, user.name), el('td', {}, user.role), el('td', {}, del)));
    }
    const tk = await LB.api('/api/v1/tokens');
    const tb = document.querySelector('#tokens tbody');
    tb.textContent = '';
    for (const tok of tk.data || []) {
      tb.appendChild(el('tr', {}, el('td', {}, tok.name || tok.id), el('td', {}, tok.role),
        el('td', {}, el('button', { type: 'button', className: 'danger', onclick: async () => {
          const r = await LB.api('/api/v1/tokens/' + encodeURIComponent(tok.id), { method: 'DELETE' });
          if (r.status !== 204) fail(r);
          load();
        } }, t('del')))));
    }
  }
  document.getElementById('add-user').addEventListener('submit', async (e) => {
    e.preventDefault();
    const r = await LB.api('/api/v1/users', { method: 'POST', body: {
      user: document.getElementById('u-name').value, password: document.getElementById('u-password').value,
      role: document.getElementById('u-role').value } });
    if (r.status !== 201) fail(r); else e.target.reset();
    load();
  });
  document.getElementById('add-token').addEventListener('submit', async (e) => {
    e.preventDefault();
    const r = await LB.api('/api/v1/tokens', { method: 'POST', body: {
      name: document.getElementById('t-name').value, role: document.getElementById('t-role').value } });
    const out = document.getElementById('new-token');
    if (r.status !== 201) fail(r);
    else { out.textContent = t('token_shown_once') + ' ' + r.data.token; out.classList.remove('hidden'); }
    load();
  });
  load();
})();
