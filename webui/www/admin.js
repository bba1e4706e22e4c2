/* Users and API tokens (admin only): add, change a role, reset a password,
 * delete; the last administrator can be neither demoted nor deleted. */
'use strict';
(async () => {
  const s = await LB.requireSession('admin');
  const { el, t, tv } = LB;
  const fail = (r) => { document.getElementById('error').textContent = LB.errText(r); };
  const note = (text) => {
    document.getElementById('error').textContent = '';
    const n = document.getElementById('note');
    n.textContent = text;
    n.classList.toggle('hidden', !text);
  };
  const ROLES = ['admin', 'operator', 'teacher', 'viewer'];

  function roleSelect(user) {
    const sel = el('select', { className: 'role' });
    sel.setAttribute('aria-label', t('role') + ' · ' + user.name);
    for (const r of ROLES) sel.appendChild(el('option', { value: r }, tv('urole_', r)));
    sel.value = user.role;
    // the last admin keeps the role; config users are changed in the config
    sel.disabled = !!(user.last_admin || user.from_config);
    if (user.last_admin) sel.title = t('last_admin_hint');
    sel.addEventListener('change', async () => {
      const r = await LB.api('/api/v1/users/' + encodeURIComponent(user.name), { method: 'PATCH', body: { role: sel.value } });
      if (r.status !== 200) fail(r);
      else note(LB.tf('role_changed', { user: user.name, role: tv('urole_', sel.value) }));
      if (r.status === 200 && user.name === s.user) { location.reload(); return; }  // my session ended
      load();
    });
    return sel;
  }

  function resetPassword(user) {
    const dlg = document.getElementById('reset');
    document.getElementById('reset-title').textContent = LB.tf('reset_password_for', { user: user.name });
    const err = document.getElementById('reset-error');
    err.textContent = '';
    document.getElementById('reset-form').reset();
    document.getElementById('reset-form').onsubmit = async (e) => {
      e.preventDefault();
      const pw = document.getElementById('reset-password').value;
      if (pw !== document.getElementById('reset-password2').value) { err.textContent = t('setup_mismatch'); return; }
      const r = await LB.api('/api/v1/users/' + encodeURIComponent(user.name), { method: 'PATCH', body: { password: pw } });
      if (r.status !== 200) { err.textContent = LB.errText(r); return; }
      dlg.close();
      note(LB.tf('password_reset_done', { user: user.name }));
    };
    document.getElementById('reset-cancel').onclick = () => dlg.close();
    dlg.showModal();
  }

  async function load() {
    const u = await LB.api('/api/v1/users');
    const ub = document.querySelector('#users tbody');
    ub.textContent = '';
    if (u.status !== 200) { fail(u); return; }
    for (const user of u.data || []) {
      const actions = el('div', { className: 'actions' });
      if (!user.from_config) {
        actions.append(el('button', { type: 'button', className: 'reset', onclick: () => resetPassword(user) }, t('reset_password')));
        const del = el('button', { type: 'button', className: 'danger delete', onclick: async () => {
          if (!confirm(LB.tf('confirm_delete_user', { user: user.name }))) return;
          const r = await LB.api('/api/v1/users/' + encodeURIComponent(user.name), { method: 'DELETE' });
          if (r.status !== 204) fail(r); else note('');
          load();
        } }, t('del'));
        if (user.last_admin) { del.disabled = true; del.title = t('last_admin_hint'); }
        actions.append(del);
      }
      const row = el('tr', {}, el('td', {}, user.name, user.name === s.user ? el('span', { className: 'muted' }, ' (' + t('you') + ')') : null),
        el('td', {}, roleSelect(user)), el('td', {}, actions));
      row.dataset.user = user.name;
      ub.appendChild(row);
    }
    const tk = await LB.api('/api/v1/tokens');
    const tb = document.querySelector('#tokens tbody');
    tb.textContent = '';
    for (const tok of tk.data || []) {
      tb.appendChild(el('tr', {}, el('td', {}, tok.name || tok.id), el('td', {}, tv('urole_', tok.role)),
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
    if (r.status !== 201) fail(r); else { e.target.reset(); note(''); }
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
  LB.onLang(load);
  load();
})();
