// settle cashier screen: drives the terminal WebSocket, signing each
// command with the terminal's command secret (WebCrypto HMAC-SHA256).
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const STORE = 'settle-pos';
  const enc = new TextEncoder();

  let cfg = null;        // {terminal, key, secret}
  let hmacKey = null;    // CryptoKey of the command secret
  let ws = null;
  let retry = 0;
  let lastEvent = '';    // the stream's cursor: reconnect after it
  let current = null;    // {id, amount, currency} of the sale on screen
  let pending = null;    // command_id of the create_session awaited
  let audio = null;
  let signedOut = false;

  // --- the protocol -------------------------------------------------------

  // canonical is RFC 8785 for what commands hold (strings, integers,
  // booleans, arrays, objects): members sorted, JSON.stringify's escapes.
  const canonical = (v) => {
    if (Array.isArray(v)) return '[' + v.map(canonical).join(',') + ']';
    if (v !== null && typeof v === 'object') {
      return '{' + Object.keys(v).sort().map((k) => JSON.stringify(k) + ':' + canonical(v[k])).join(',') + '}';
    }
    return JSON.stringify(v);
  };
  const hex = (buf) => [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, '0')).join('');
  const randomHex = (n) => { const b = new Uint8Array(n); crypto.getRandomValues(b); return hex(b.buffer); };

  async function signed(cmd) {
    cmd.ts = Math.floor(Date.now() / 1000);
    cmd.nonce = randomHex(16);
    const mac = await crypto.subtle.sign('HMAC', hmacKey, enc.encode(cmd.ts + '.' + cmd.nonce + '.' + canonical(cmd)));
    cmd.sig = hex(mac);
    return JSON.stringify(cmd);
  }

  async function send(cmd) {
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      showAlert('Not connected; reconnecting…');
      return false;
    }
    ws.send(await signed(cmd));
    return true;
  }

  async function api(method, path) {
    const res = await fetch(path, { method, headers: { Authorization: 'Bearer ' + cfg.key }, cache: 'no-store' });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) throw Object.assign(new Error(body.detail || res.statusText), { status: res.status, code: body.code });
    return body;
  }

  // --- screens ------------------------------------------------------------

  const screens = ['signin', 'entry', 'sale', 'paid', 'expired'];
  function show(state, focus) {
    document.body.dataset.state = state;
    for (const s of screens) $(s).hidden = s !== state;
    $('sales').hidden = state === 'signin';
    $('signout').hidden = state === 'signin';
    $('terminal-name').hidden = state === 'signin';
    if (focus) $(focus).focus();
  }

  function showAlert(text) {
    $('alert').textContent = text;
    $('alert').hidden = !text;
  }

  function setLink(on) {
    $('link').dataset.link = on ? 'on' : 'off';
    $('link-text').textContent = on ? 'Online' : 'Offline';
  }

  const money = (amount, currency) => amount + ' ' + currency;

  function beep(ok) {
    if (!audio) return;
    try {
      const t = audio.currentTime;
      const notes = ok ? [660, 880] : [330, 220];
      notes.forEach((f, i) => {
        const o = audio.createOscillator();
        const g = audio.createGain();
        o.type = 'sine';
        o.frequency.value = f;
        g.gain.setValueAtTime(0.0001, t + i * 0.18);
        g.gain.exponentialRampToValueAtTime(0.25, t + i * 0.18 + 0.02);
        g.gain.exponentialRampToValueAtTime(0.0001, t + i * 0.18 + 0.16);
        o.connect(g).connect(audio.destination);
        o.start(t + i * 0.18);
        o.stop(t + i * 0.18 + 0.17);
      });
    } catch (e) { /* no sound is no reason to fail a sale */ }
  }

  // --- the socket -----------------------------------------------------------

  async function connect() {
    if (signedOut) return;
    let token;
    try {
      token = (await api('POST', '/api/v1/ws-tokens')).ws_token;
    } catch (e) {
      if (e.status === 401) { signOut('The terminal key was revoked or is wrong; sign in again.'); return; }
      return reconnect();
    }
    const url = new URL('/api/v1/ws/terminal/' + encodeURIComponent(cfg.terminal), location.href);
    url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    url.searchParams.set('ws_token', token);
    if (lastEvent) url.searchParams.set('after', lastEvent);
    const sock = new WebSocket(url);
    ws = sock;
    sock.onopen = () => { retry = 0; setLink(true); showAlert(''); };
    sock.onmessage = (ev) => { let m; try { m = JSON.parse(ev.data); } catch (e) { return; } handle(m); };
    sock.onclose = (ev) => {
      if (ws !== sock) return;
      setLink(false);
      ws = null;
      if (ev.code === 1008 && ev.reason === 'api key revoked') { signOut('This terminal was deleted.'); return; }
      if (ev.code === 1006 && retry > 2) lastEvent = ''; // a refused cursor: start afresh
      reconnect();
    };
  }

  function reconnect() {
    if (signedOut) return;
    retry++;
    setTimeout(connect, Math.min(10000, 300 * 2 ** Math.min(retry, 5)));
  }

  function handle(m) {
    if (m.event_id) {
      lastEvent = m.event_id;
      stream(m);
      return;
    }
    switch (m.type) {
      case 'session':
        if (m.command_id === pending) {
          pending = null;
          showSale(m);
        }
        break;
      case 'error':
        if (m.command_id === pending) {
          pending = null;
          $('charge').disabled = false;
        }
        showAlert(m.message + ' (' + m.code + ')');
        break;
    }
  }

  function stream(m) {
    const mine = current && m.invoice_id === current.id;
    switch (m.type) {
      case 'payment_confirmed':
        if (mine && document.body.dataset.state === 'sale') {
          $('paid-amount').textContent = money(current.amount, current.currency);
          show('paid', 'next-paid');
          beep(true);
        }
        loadSales();
        break;
      case 'session_expired':
        if (mine && document.body.dataset.state === 'sale') {
          show('expired', 'next-expired');
          beep(false);
        }
        loadSales();
        break;
      case 'session_cancelled':
        if (mine && document.body.dataset.state === 'sale') newSale();
        loadSales();
        break;
      case 'session_created':
        loadSales();
        break;
    }
  }

  // --- sales ----------------------------------------------------------------

  function showSale(m) {
    const inv = m.invoice;
    current = { id: inv.id, amount: inv.amount, currency: inv.currency };
    $('sale').dataset.invoice = inv.id;
    $('sale-amount').textContent = money(inv.amount, inv.currency);
    $('qr').src = m.qr_png || '';
    $('sale-url').textContent = m.payment_url;
    $('charge').disabled = false;
    if (inv.status === 'paid') {
      $('paid-amount').textContent = money(inv.amount, inv.currency);
      show('paid', 'next-paid');
      return;
    }
    show('sale', 'cancel');
  }

  function newSale() {
    current = null;
    $('sale').dataset.invoice = '';
    $('amount').value = '';
    $('charge').disabled = false;
    show('entry', 'amount');
  }

  const decimals = { JPY: 0, IDR: 0 };
  async function charge(ev) {
    ev.preventDefault();
    showAlert('');
    const currency = $('currency').value;
    const amount = $('amount').value.trim().replace(',', '.');
    const d = decimals[currency] ?? 2;
    const re = d === 0 ? /^[1-9][0-9]*$/ : new RegExp('^(0|[1-9][0-9]*)(\\.[0-9]{1,' + d + '})?$');
    if (!re.test(amount) || Number(amount) <= 0) {
      showAlert('Enter an amount greater than zero' + (d ? ', with at most ' + d + ' decimals' : ', without decimals') + '.');
      $('amount').focus();
      return;
    }
    // The sound needs a user gesture to be allowed: this is one.
    if (!audio && window.AudioContext) audio = new AudioContext();
    pending = 'sale-' + randomHex(6);
    $('charge').disabled = true;
    const ok = await send({
      type: 'create_session', command_id: pending, amount, currency,
      reference: pending, allow_tip: $('tip').checked, expires_in: Number($('expires').value),
    });
    if (!ok) { $('charge').disabled = false; pending = null; }
  }

  async function cancelSale() {
    if (!current) return;
    await send({ type: 'cancel_session', command_id: 'cancel-' + randomHex(4), invoice_id: current.id });
  }

  async function loadSales() {
    const start = new Date();
    start.setHours(0, 0, 0, 0);
    let list;
    try {
      list = await api('GET', '/api/v1/terminals/' + encodeURIComponent(cfg.terminal) + '/invoices?limit=100&since=' + encodeURIComponent(start.toISOString()));
    } catch (e) {
      return;
    }
    const ol = $('sales-list');
    ol.replaceChildren();
    const totals = {};
    for (const inv of list.data) {
      const li = document.createElement('li');
      li.dataset.status = inv.status;
      li.dataset.invoice = inv.id;
      const time = document.createElement('time');
      time.dateTime = inv.created_at;
      time.textContent = new Date(inv.created_at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
      const amt = document.createElement('span');
      amt.className = 'amt';
      amt.textContent = money(inv.amount, inv.currency);
      const st = document.createElement('span');
      st.className = 'st';
      st.textContent = inv.status;
      li.append(time, amt, st);
      ol.append(li);
      if (inv.status === 'paid') totals[inv.currency] = (totals[inv.currency] || 0) + Number(inv.amount);
    }
    const parts = Object.entries(totals).map(([c, v]) => money(v.toFixed(decimals[c] ?? 2), c));
    $('sales-total').textContent = parts.length ? 'Paid today: ' + parts.join(', ') : 'No paid sales yet today.';
  }

  // --- sign in and out --------------------------------------------------------

  async function start() {
    hmacKey = await crypto.subtle.importKey('raw', enc.encode(cfg.secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    signedOut = false;
    newSale();
    connect();
    loadSales();
    api('GET', '/api/v1/terminals/' + encodeURIComponent(cfg.terminal))
      .then((t) => { $('terminal-name').textContent = t.name; })
      .catch(() => {});
  }

  async function signIn(ev) {
    ev.preventDefault();
    showAlert('');
    const next = { terminal: $('terminal-id').value.trim(), key: $('api-key').value.trim(), secret: $('command-secret').value.trim() };
    if (!next.terminal.startsWith('trm_') || !/^sk_(test|live)_/.test(next.key) || !next.secret.startsWith('tcs_')) {
      showAlert('Enter the terminal id (trm_…), its API key (sk_…) and its command secret (tcs_…).');
      return;
    }
    if (!window.crypto || !crypto.subtle) {
      showAlert('This page must be opened over HTTPS (or on localhost) to sign commands.');
      return;
    }
    cfg = next;
    try {
      await api('GET', '/api/v1/terminals/' + encodeURIComponent(cfg.terminal));
    } catch (e) {
      cfg = null;
      showAlert(e.status === 401 ? 'The API key is unknown or revoked.' : e.status === 404 ? 'This key is not the key of that terminal.' : 'Cannot sign in: ' + e.message);
      return;
    }
    sessionStorage.setItem(STORE, JSON.stringify(cfg));
    $('command-secret').value = '';
    $('api-key').value = '';
    start();
  }

  function signOut(reason) {
    signedOut = true;
    sessionStorage.removeItem(STORE);
    cfg = null;
    hmacKey = null;
    current = null;
    if (ws) { const s = ws; ws = null; s.close(1000); }
    setLink(false);
    show('signin', 'terminal-id');
    showAlert(typeof reason === 'string' ? reason : '');
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('signin-form').addEventListener('submit', signIn);
    $('sale-form').addEventListener('submit', charge);
    $('cancel').addEventListener('click', cancelSale);
    $('next-paid').addEventListener('click', newSale);
    $('next-expired').addEventListener('click', newSale);
    $('signout').addEventListener('click', () => signOut());
    document.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape' && document.body.dataset.state === 'sale') { ev.preventDefault(); cancelSale(); }
    });
    try { cfg = JSON.parse(sessionStorage.getItem(STORE) || 'null'); } catch (e) { cfg = null; }
    if (cfg) start(); else show('signin', 'terminal-id');
  });
})();
