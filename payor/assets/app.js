// settle hosted checkout. Plain ES2020, no build step, no dependencies.
// It reads the session from the payor API with the handles in the page's URL
// (/pay/{token}?sig=…), follows it over the payor WebSocket (polling when the
// socket fails) and never trusts a push alone: every push re-reads the session.
// Server data is only ever set with textContent; the one piece of markup
// inserted is the QR SVG from this server, parsed and imported element-wise.
'use strict';

(() => {
  const API = '/api/v1/payor/';
  const POLL_MS = 5000;
  const $ = (id) => document.getElementById(id);

  const params = new URLSearchParams(location.search);
  const token = decodeURIComponent(location.pathname.split('/').filter(Boolean).pop() || '');
  const sig = params.get('sig') || '';
  const embedded = params.get('embed') === '1' && window.parent !== window;
  const parentOrigin = embedded ? httpOrigin(params.get('origin')) : '';

  const state = {
    session: null,
    instructions: null, // of state.method
    method: '',
    deadline: 0, // Date.now() at which the session expires, from expires_in_seconds
    expiredPush: false,
    devnetTx: '',
    socket: null,
    socketOpen: false,
    pollTimer: 0,
    retry: 0,
    posted: new Set(),
    qrURL: '', // blob: URL to revoke
    qrFor: '',
    loading: null,
    again: false,
    finished: false, // a fatal error: nothing more to fetch
    simulating: false, // a simulated payment is being recorded
    tipDone: false, // the payor answered the tip step (a tip or none)
    tipping: false, // a tip is being sent
  };

  // httpOrigin returns s when it is exactly an http(s) origin, else ''.
  function httpOrigin(s) {
    if (!s) return '';
    try {
      const u = new URL(s);
      if ((u.protocol === 'https:' || u.protocol === 'http:') && u.origin === s) return s;
    } catch (e) { /* not a URL */ }
    return '';
  }

  function post(type) {
    if (!parentOrigin || state.posted.has(type)) return;
    if (type !== 'settle:closed') state.posted.add(type);
    window.parent.postMessage({ type }, parentOrigin);
  }

  // --- API -----------------------------------------------------------------

  class APIError extends Error {
    constructor(status, code, detail) {
      super(detail || 'HTTP ' + status);
      this.status = status;
      this.code = code || '';
    }
  }

  async function api(path, body) {
    const headers = { 'x-session-token': token, 'x-signature': sig, accept: 'application/json' };
    const init = { method: 'GET', headers, cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer' };
    if (body !== undefined) {
      init.method = 'POST';
      headers['content-type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const res = await fetch(API + path, init);
    if (!res.ok) {
      let p = {};
      try { p = await res.json(); } catch (e) { /* not problem+json */ }
      throw new APIError(res.status, p.code, p.detail || p.title);
    }
    return res;
  }

  // refresh reads the session; calls made while one is running fold into
  // one more read after it.
  async function refresh() {
    if (state.loading) {
      state.again = true;
      return state.loading;
    }
    state.loading = (async () => {
      do {
        state.again = false;
        try {
          const s = await (await api('session')).json();
          state.session = s;
          state.deadline = Date.now() + Math.max(0, Number(s.expires_in_seconds) || 0) * 1000;
          showConnection('');
          await render();
        } catch (e) {
          handleError(e);
        }
      } while (state.again);
      state.loading = null;
    })();
    return state.loading;
  }

  function handleError(e) {
    if (e instanceof APIError) {
      if (e.status === 401 || e.status === 403) return fatal('This payment link is not valid', 'Open the complete link you were given, or ask the merchant for a new one.');
      if (e.status === 404) return fatal('Checkout not found', 'Ask the merchant for a new payment link.');
      if (e.status === 423) return fatal('This checkout is locked', 'It was opened too many times with a wrong link. Ask the merchant for a new payment link.');
      if (e.code === 'session_expired') {
        // Expired before instructions were shown: they never will be.
        state.expiredPush = true;
        if (state.session) render();
        return showConnection('');
      }
      if (e.status === 429) return showConnection('Too many requests; retrying in a moment…');
      if (e.status === 422) return showConnection(e.message);
      return showConnection('The server had a problem; retrying…');
    }
    showConnection('Connection lost; retrying…');
  }

  function showConnection(text) {
    const el = $('connection');
    el.textContent = text;
    el.hidden = !text;
  }

  // --- Rendering -----------------------------------------------------------

  function money(amount, currency) {
    const digits = (String(amount).split('.')[1] || '').length;
    try {
      return new Intl.NumberFormat(undefined, {
        style: 'currency', currency, minimumFractionDigits: digits, maximumFractionDigits: digits,
      }).format(amount);
    } catch (e) {
      return amount + ' ' + currency;
    }
  }

  function statusOf(s) {
    if (s.status === 'invalid') return 'cancelled'; // closed by the merchant: nothing more to pay
    if (s.status === 'open' && (state.expiredPush || (state.deadline && Date.now() >= state.deadline))) return 'expired';
    return s.status;
  }

  const STATUS_TEXT = {
    open: 'Waiting for payment', underpaid: 'Partly paid', processing: 'Confirming payment',
    paid: 'Paid', expired: 'Expired', cancelled: 'Cancelled', error: 'Unavailable',
  };

  function setStatus(key) {
    $('status').dataset.status = key;
    $('status-text').textContent = STATUS_TEXT[key] || key;
  }

  // show makes the sections in ids visible and hides the others; the list of
  // payments only when there are some.
  function show(ids) {
    const some = state.session && state.session.payments && state.session.payments.length > 0;
    ids = ids.filter((id) => id !== 'progress-box' || some);
    for (const id of ['tip', 'underpaid', 'pick', 'instructions', 'simulate', 'progress-box', 'processing', 'paid', 'expired', 'cancelled', 'failure', 'return-box']) {
      const el = $(id);
      if (el) el.hidden = !ids.includes(id); // #simulate is on test invoices only
    }
  }

  async function render() {
    const s = state.session;
    const card = $('checkout');
    card.setAttribute('aria-busy', 'false');
    $('merchant').textContent = s.merchant && s.merchant.name ? s.merchant.name : $('merchant').textContent;
    $('description').textContent = s.description || '';
    $('description').hidden = !s.description;
    const total = s.total || s.amount;
    $('amount').textContent = money(total, s.currency);
    $('amount').dataset.amount = total;
    const tipped = s.tip && s.tip.allowed && units(s.tip.amount) && units(s.tip.amount).units > 0n;
    $('tip-line').textContent = tipped ? `${money(s.amount, s.currency)} + tip ${money(s.tip.amount, s.currency)}` : '';
    $('tip-line').hidden = !tipped;
    $('amount').dataset.currency = s.currency;
    const st = statusOf(s);
    const finished = st === 'paid' || st === 'expired' || st === 'cancelled';
    $('expiry').hidden = finished || st === 'processing';
    tick();
    renderPayments(s);
    const returnable = embedded || safeHTTP(s.redirect_url);
    $('return').textContent = embedded && !s.redirect_url ? 'Close' : 'Return to merchant';

    if (st === 'paid') {
      setStatus('paid');
      $('paid-amount').textContent = money(s.amount_paid, s.currency);
      const note = s.exception === 'overpaid' ? 'You paid more than was due; the merchant can refund the difference.'
        : s.exception === 'paid_late' ? 'Your payment arrived after the checkout expired; the merchant has been told.' : '';
      $('paid-note').textContent = note;
      $('paid-note').hidden = !note;
      renderPaidTx(s);
      show(returnable ? ['paid', 'progress-box', 'return-box'] : ['paid', 'progress-box']);
      announce('Payment complete.');
      post('settle:paid');
      stopPolling();
      closeSocket();
      return;
    }
    if (st === 'expired' || st === 'cancelled') {
      setStatus(st);
      show(returnable ? [st, 'progress-box', 'return-box'] : [st, 'progress-box']);
      if (st === 'expired') {
        post('settle:expired');
        connect(); // a late payment still turns the page to paid
      } else {
        closeSocket();
        stopPolling();
      }
      return;
    }
    if (st === 'processing') {
      setStatus('processing');
      show(['processing', 'progress-box']);
      return;
    }
    // open
    const underpaid = s.exception === 'underpaid';
    setStatus(underpaid ? 'underpaid' : 'open');
    $('amount-due').textContent = money(s.amount_due, s.currency);
    // The tip comes first: choosing a method shows instructions for the
    // total, after which the tip no longer changes.
    if (s.tip && s.tip.allowed && s.tip.open && !state.tipDone && !state.method && !s.method) {
      renderTip(s);
      show(['tip']);
      return;
    }
    renderMethods(s);
    const ids = underpaid ? ['underpaid', 'pick', 'progress-box'] : ['pick', 'progress-box'];
    // A checkout with one method opens with it chosen.
    const chosen = state.method || s.method || (s.methods.length === 1 ? s.methods[0].id : '');
    if (chosen && s.methods.some((m) => m.id === chosen)) {
      if (!state.instructions || state.instructions.method !== chosen) await choose(chosen, false);
      if (state.instructions) ids.push(isSandbox(state.instructions) ? 'simulate' : 'instructions');
    }
    renderSimulate(s);
    $('underpaid-action').textContent = isSandbox(state.instructions) ? 'Simulate the rest below.' : 'Send the rest to the same address.';
    show(ids);
    $('pay-amount-label').textContent = underpaid ? 'Invoice total in this asset' : 'Send exactly';
    $('underpaid-qr').hidden = !underpaid;
  }

  // renderTip fills the tip step: a button per preset percent (with its
  // amount, rounded down as the server does), the cap of a custom tip.
  function renderTip(s) {
    const box = $('tip-presets');
    const base = units(s.amount);
    const key = s.tip.presets.join(',') + '|' + s.amount;
    $('tip-cap').textContent = money(s.tip.cap_amount, s.currency);
    if (box.dataset.key === key || !base) return;
    box.dataset.key = key;
    box.replaceChildren(...s.tip.presets.map((p) => {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'method tip-preset';
      b.dataset.percent = String(p);
      b.dataset.testid = 'tip-' + p;
      const pct = document.createElement('span');
      pct.className = 'method-name';
      pct.textContent = p + '%';
      const amt = document.createElement('span');
      amt.className = 'method-net';
      amt.textContent = money(decimal(base.units * BigInt(p) / 100n, base.decimals), s.currency);
      b.append(pct, amt);
      b.addEventListener('click', () => sendTip({ percent: p }));
      return b;
    }));
  }

  // tipProblem says what is wrong with a custom tip before it is sent (the
  // server checks it again): not an amount of the currency, or above the cap.
  function tipProblem(v) {
    const s = state.session;
    const tip = units(v);
    const cap = units(s.tip.cap_amount);
    const digits = (String(s.amount).split('.')[1] || '').length;
    if (!tip || !cap || tip.decimals > digits) return `Enter an amount such as ${money(s.tip.cap_amount, s.currency)}.`;
    const scale = (u) => u.units * 10n ** BigInt(digits - u.decimals);
    if (scale(tip) > scale(cap)) return `The tip can be at most ${money(s.tip.cap_amount, s.currency)}.`;
    return '';
  }

  // sendTip sets the tip (or none) and goes on to the methods; a refusal
  // (above the cap, not an amount) stays on the tip step with its reason.
  async function sendTip(body) {
    if (state.tipping) return;
    state.tipping = true;
    for (const b of document.querySelectorAll('#tip button')) b.disabled = true;
    $('tip-error').hidden = true;
    try {
      state.session = await (await api('session/tip', body)).json();
      state.tipDone = true;
      await render();
      const t = state.session.tip;
      announce(t && units(t.amount) && units(t.amount).units > 0n ? `Tip of ${money(t.amount, state.session.currency)} added.` : 'No tip.');
    } catch (e) {
      if (e instanceof APIError && (e.status === 422 || e.code === 'tip_closed')) {
        $('tip-error').textContent = e.code === 'tip_above_cap'
          ? `The tip can be at most ${money(state.session.tip.cap_amount, state.session.currency)}.` : e.message;
        $('tip-error').hidden = false;
        if (e.code === 'tip_closed') { state.tipDone = true; refresh(); }
      } else {
        handleError(e);
      }
    } finally {
      state.tipping = false;
      for (const b of document.querySelectorAll('#tip button')) b.disabled = false;
    }
  }

  function renderMethods(s) {
    const box = $('methods');
    const current = state.method || s.method;
    const ids = s.methods.map((m) => m.id).join(',');
    if (box.dataset.ids !== ids) {
      box.dataset.ids = ids;
      box.replaceChildren(...s.methods.map((m) => {
        const b = document.createElement('button');
        b.type = 'button';
        b.className = 'method';
        b.dataset.method = m.id;
        b.dataset.testid = 'method-' + m.id;
        const name = document.createElement('span');
        name.className = 'method-name';
        name.textContent = m.network === 'sandbox' ? 'Simulate payment' : (m.label || m.asset);
        const net = document.createElement('span');
        net.className = 'method-net';
        net.textContent = m.network === 'sandbox' ? 'Test mode · no real money'
          : m.asset + ' · ' + (m.network_name || m.network);
        b.append(name, net);
        b.addEventListener('click', () => choose(m.id, true));
        return b;
      }));
    }
    for (const b of box.querySelectorAll('button')) {
      b.setAttribute('aria-pressed', String(b.dataset.method === current));
    }
  }

  // confirmations tells how far a pending payment is, e.g. "3 of 10 confirmations".
  function confirmations(p) {
    const need = p.confirmations_required || 0;
    if (need <= 0) return 'Seen, waiting for confirmation';
    const have = Math.min(p.confirmations || 0, need);
    return `Seen, ${have} of ${need} confirmation${need === 1 ? '' : 's'}`;
  }

  function renderPayments(s) {
    const list = $('progress');
    list.replaceChildren(...(s.payments || []).map((p) => {
      const li = document.createElement('li');
      li.className = 'payment';
      li.dataset.status = p.status;
      const amt = document.createElement('span');
      amt.className = 'mono';
      amt.textContent = p.amount + ' ' + p.asset;
      const what = document.createElement('span');
      what.className = 'payment-state';
      what.textContent = p.status === 'confirmed' ? '✓ Confirmed'
        : p.status === 'reversed' ? '✕ Reversed'
          : confirmations(p);
      li.append(amt, what);
      if (safeHTTP(p.explorer_url)) {
        const a = document.createElement('a');
        a.href = p.explorer_url;
        a.target = '_blank';
        a.rel = 'noopener noreferrer';
        a.textContent = 'View transaction';
        li.append(a);
      }
      return li;
    }));
  }

  // --- Choosing a method and showing how to pay -------------------------------

  async function choose(method, byUser) {
    state.method = method;
    if (state.session) renderMethods(state.session);
    let ins;
    try {
      ins = await (await api('session/method', { method })).json();
    } catch (e) {
      handleError(e);
      return;
    }
    if (state.method !== method) return; // another choice came later
    state.instructions = ins;
    if (isSandbox(ins)) {
      if (byUser && state.session) {
        await render();
        announce('Test mode: simulate a payment with the buttons below.');
      }
      return;
    }
    showAmount(ins);
    $('pay-asset').textContent = ins.asset;
    $('address').textContent = ins.address;
    $('network').textContent = ins.network_name || ins.network;
    $('confirmations').textContent = String(ins.confirmations);
    // Fiat rails: bank details and the reference instead of confirmations.
    const bank = !!ins.account_number;
    for (const [id, value] of [['reference', ins.reference], ['bank-name', ins.bank_name],
      ['account-name', ins.account_name], ['routing-number', ins.routing_number]]) {
      $(id).textContent = value || '';
      $(id + '-field').hidden = !value;
    }
    $('address-label').textContent = bank ? 'To account number' : ins.qris_payload ? 'Merchant' : 'To this address';
    $('confirmations-field').hidden = bank || !!ins.qris_payload || ins.confirmations <= 0;
    $('network-hint').textContent = bank || ins.qris_payload
      ? `Pay exactly this amount${ins.reference ? ' with the reference above' : ''}, so the payment is matched to this invoice.`
      : `Send only ${ins.asset} on ${ins.network_name || ins.network}. Other assets or networks are lost.`;
    const link = $('wallet-link');
    if (walletURI(ins.uri)) {
      link.href = ins.uri;
      link.hidden = false;
    } else {
      link.removeAttribute('href');
      link.hidden = true;
    }
    const s = state.session;
    $('devnet-pay').hidden = !(s && s.devnet_pay && ins.network === 'devnet');
    loadQR(ins);
    if (byUser && s) {
      await render();
      $('instructions').hidden = false;
      announce(`Send ${ins.amount} ${ins.asset} on ${ins.network_name || ins.network}.`);
    }
  }

  function isSandbox(ins) {
    return !!ins && ins.network === 'sandbox';
  }

  // showAmount shows the exact amount to send. On an address shared by many
  // invoices the amount carries a few base units more than the invoice
  // (42.500002 for 42.50): those digits are marked and explained, since a
  // rounded amount could not be matched to this payment.
  function showAmount(ins) {
    const el = $('pay-amount');
    const s = state.session;
    const base = s ? String(s.total || s.amount) : '';
    const amount = String(ins.amount);
    const tail = base && amount.startsWith(base) ? amount.slice(base.length) : '';
    const crypto = !!ins.uri && !ins.account_number && !ins.qris_payload;
    if (crypto && /^[0-9]+$/.test(tail) && /[1-9]/.test(tail)) {
      const mark = document.createElement('mark');
      mark.className = 'unique';
      mark.id = 'unique-digits';
      mark.textContent = tail;
      el.replaceChildren(document.createTextNode(base), mark);
      $('unique-hint').textContent = `The last digits (${tail}) identify your payment: send exactly ${amount} ${ins.asset}, not ${base}.`;
      $('unique-hint').hidden = false;
    } else {
      el.textContent = amount;
      $('unique-hint').textContent = '';
      $('unique-hint').hidden = true;
    }
  }

  async function loadQR(ins) {
    const box = $('qr');
    box.hidden = !ins.uri; // bank transfers have nothing to scan
    if (!ins.uri || state.qrFor === ins.uri) return;
    state.qrFor = ins.uri;
    box.setAttribute('role', 'img');
    box.setAttribute('aria-label', `QR code to pay ${ins.amount} ${ins.asset}`);
    box.textContent = 'Loading QR code…';
    const path = (p, format) => (typeof p === 'string' && p.startsWith(API) ? p.slice(API.length)
      : 'session/qr?method=' + encodeURIComponent(ins.method) + '&format=' + format);
    try {
      const text = await (await api(path(ins.qr_svg, 'svg'))).text();
      const svg = importSVG(text);
      if (state.qrFor !== ins.uri) return;
      box.replaceChildren(svg);
      return;
    } catch (e) { /* try PNG */ }
    try {
      const blob = await (await api(path(ins.qr_png, 'png'))).blob();
      if (state.qrFor !== ins.uri) return;
      if (state.qrURL) URL.revokeObjectURL(state.qrURL);
      state.qrURL = URL.createObjectURL(blob);
      const img = document.createElement('img');
      img.alt = '';
      img.src = state.qrURL;
      box.replaceChildren(img);
    } catch (e) {
      state.qrFor = '';
      box.textContent = 'QR code unavailable: copy the address and amount instead.';
    }
  }

  // importSVG parses the server's SVG and returns its <svg> element without
  // anything active in it.
  function importSVG(text) {
    const doc = new DOMParser().parseFromString(text, 'image/svg+xml');
    const root = doc.documentElement;
    if (!root || root.localName !== 'svg' || doc.getElementsByTagName('parsererror').length) throw new Error('not an SVG');
    for (const el of [...root.querySelectorAll('script, foreignObject, style, a, use, image, iframe')]) el.remove();
    for (const el of [root, ...root.querySelectorAll('*')]) {
      for (const attr of [...el.attributes]) {
        const n = attr.name.toLowerCase();
        if (n.startsWith('on') || n === 'style' || n === 'href' || n.endsWith(':href')) el.removeAttribute(attr.name);
      }
    }
    const svg = document.importNode(root, true);
    svg.setAttribute('aria-hidden', 'true');
    svg.setAttribute('focusable', 'false');
    if (!svg.hasAttribute('viewBox') && svg.hasAttribute('width') && svg.hasAttribute('height')) {
      svg.setAttribute('viewBox', `0 0 ${parseFloat(svg.getAttribute('width'))} ${parseFloat(svg.getAttribute('height'))}`);
    }
    svg.removeAttribute('width');
    svg.removeAttribute('height');
    return svg;
  }

  function safeHTTP(u) {
    if (typeof u !== 'string' || !u) return false;
    try {
      const p = new URL(u).protocol;
      return p === 'https:' || p === 'http:';
    } catch (e) {
      return false;
    }
  }

  // walletURI accepts a payment URI (ethereum:, solana:, …), never a scheme
  // that runs or embeds something.
  function walletURI(u) {
    const m = typeof u === 'string' && /^([a-z][a-z0-9+.-]*):/i.exec(u);
    return !!m && !['javascript', 'data', 'vbscript', 'file', 'blob', 'filesystem', 'about'].includes(m[1].toLowerCase());
  }

  // --- Copy, devnet pay, return -----------------------------------------------

  async function copy(button) {
    const src = $(button.dataset.copy);
    const text = src.textContent;
    let ok = false;
    try {
      await navigator.clipboard.writeText(text);
      ok = true;
    } catch (e) {
      const sel = window.getSelection();
      const range = document.createRange();
      range.selectNodeContents(src);
      sel.removeAllRanges();
      sel.addRange(range);
      try { ok = document.execCommand('copy'); } catch (e2) { ok = false; }
    }
    clearTimeout(button._t);
    button.textContent = ok ? 'Copied' : 'Selected';
    button.classList.toggle('done', ok);
    announce(ok ? (button.dataset.copy === 'address' ? 'Address copied.' : 'Amount copied.') : 'Copy was blocked; the text is selected, copy it by hand.');
    button._t = setTimeout(() => {
      button.textContent = 'Copy';
      button.classList.remove('done');
    }, 2000);
  }

  async function devnetPay() {
    const b = $('devnet-pay');
    if (!state.method) return;
    b.disabled = true;
    b.textContent = 'Paying…';
    try {
      const r = await (await api('session/devnet-pay', { method: state.method })).json();
      state.devnetTx = r.tx_id || '';
      b.textContent = 'Sent — waiting for confirmation';
      announce('Devnet payment sent.');
      refresh();
      // Should nothing arrive, let the payor try again.
      setTimeout(() => {
        if (state.session && state.session.status === 'open' && !state.session.payments.length) {
          b.disabled = false;
          b.textContent = 'Pay with devnet wallet';
        }
      }, 20000);
    } catch (e) {
      b.disabled = false;
      b.textContent = 'Pay with devnet wallet';
      handleError(e);
    }
  }

  // --- Test mode: simulated payments ------------------------------------------------

  // units parses a decimal string into base units and its number of decimals,
  // with BigInt: money is never a float.
  function units(amount) {
    const m = /^([0-9]+)(?:\.([0-9]+))?$/.exec(String(amount));
    if (!m) return null;
    const frac = m[2] || '';
    return { units: BigInt(m[1] + frac), decimals: frac.length };
  }

  function decimal(u, decimals) {
    const digits = u.toString().padStart(decimals + 1, '0');
    return decimals ? digits.slice(0, -decimals) + '.' + digits.slice(-decimals) : digits;
  }

  // renderSimulate fills the Simulate payment buttons: the amount still due,
  // and half of it (at least one base unit) for a part payment.
  function renderSimulate(s) {
    if (!$('simulate')) return;
    const due = units(s.amount_due);
    const busy = state.simulating;
    $('simulate-full-amount').textContent = money(s.amount_due, s.currency);
    $('simulate-full').dataset.amount = s.amount_due;
    $('simulate-full').disabled = busy || !due || due.units <= 0n;
    const part = due && due.units >= 2n ? decimal(due.units / 2n, due.decimals) : '';
    $('simulate-part-amount').textContent = part ? money(part, s.currency) : '';
    $('simulate-part').dataset.amount = part;
    $('simulate-part').hidden = !part;
    $('simulate-part').disabled = busy || !part;
  }

  async function simulate(button) {
    const amount = button.dataset.amount;
    if (!amount || state.simulating) return;
    state.simulating = true;
    renderSimulate(state.session);
    try {
      await api('session/simulate-payment', { amount });
      announce(`Simulated a payment of ${amount} ${state.session.currency}.`);
    } catch (e) {
      handleError(e);
    }
    state.simulating = false;
    await refresh();
  }

  // renderPaidTx lists the confirmed payments' transaction ids on the paid
  // screen, each with a link to the network's explorer where it has one.
  function renderPaidTx(s) {
    const list = $('paid-tx');
    const paid = (s.payments || []).filter((p) => p.status === 'confirmed' && p.tx_id);
    list.replaceChildren(...paid.map((p) => {
      const li = document.createElement('li');
      const tx = document.createElement('span');
      tx.className = 'mono tx-id';
      tx.textContent = p.tx_id;
      li.append(tx);
      if (safeHTTP(p.explorer_url)) {
        const a = document.createElement('a');
        a.className = 'explorer';
        a.href = p.explorer_url;
        a.target = '_blank';
        a.rel = 'noopener noreferrer';
        a.textContent = 'View on ' + (p.network_name ? p.network_name + "'s explorer" : 'the explorer');
        li.append(a);
      }
      return li;
    }));
    $('paid-tx-title').textContent = paid.length === 1 ? 'Transaction' : 'Transactions';
    $('paid-tx-box').hidden = paid.length === 0;
  }

  function leave() {
    post('settle:closed');
    if (embedded) return;
    const u = state.session && state.session.redirect_url;
    if (safeHTTP(u)) location.assign(u);
  }

  function announce(text) {
    const el = $('announce');
    if (el.textContent === text) el.textContent = '';
    el.textContent = text;
  }

  function fatal(title, text) {
    state.finished = true;
    stopPolling();
    closeSocket();
    $('checkout').setAttribute('aria-busy', 'false');
    setStatus('error');
    $('failure-title').textContent = title;
    $('failure-text').textContent = text;
    $('expiry').hidden = true;
    show(['failure']);
  }

  // --- Countdown -------------------------------------------------------------

  function tick() {
    if (!state.session) return;
    const left = Math.max(0, Math.round((state.deadline - Date.now()) / 1000));
    const h = Math.floor(left / 3600);
    const m = Math.floor((left % 3600) / 60);
    const sec = String(left % 60).padStart(2, '0');
    const el = $('countdown');
    el.textContent = h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
    el.dateTime = state.session.expires_at || '';
    $('expiry').classList.toggle('urgent', left < 60);
  }

  // everySecond runs the countdown, and shows the expired screen when it
  // reaches zero before the server says so.
  function everySecond() {
    tick();
    const s = state.session;
    if (s && s.status === 'open' && !state.finished && statusOf(s) === 'expired' && $('expired').hidden) render();
  }

  // --- Live updates -------------------------------------------------------------

  function connect() {
    if (!live() || state.socket) return;
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const url = `${proto}//${location.host}${API}ws?token=${encodeURIComponent(token)}&sig=${encodeURIComponent(sig)}`;
    let ws;
    try {
      ws = new WebSocket(url);
    } catch (e) {
      startPolling();
      return;
    }
    state.socket = ws;
    ws.onopen = () => {
      state.socketOpen = true;
      state.retry = 0;
      stopPolling();
      refresh(); // anything missed while connecting
    };
    ws.onmessage = (ev) => {
      let m;
      try { m = JSON.parse(ev.data); } catch (e) { return; }
      if (!m || typeof m !== 'object') return;
      if (typeof m.expires_in_seconds === 'number') {
        state.deadline = Date.now() + Math.max(0, m.expires_in_seconds) * 1000;
        tick();
      }
      if (m.expired === true) {
        state.expiredPush = true;
        if (state.session) render();
        refresh();
      }
      if (typeof m.status === 'string') refresh();
    };
    ws.onclose = () => {
      state.socketOpen = false;
      if (state.socket !== ws || !live()) return;
      state.socket = null;
      startPolling();
      const wait = Math.min(60000, 2000 * 2 ** state.retry++);
      setTimeout(connect, wait);
    };
  }

  function closeSocket() {
    const ws = state.socket;
    state.socket = null;
    state.socketOpen = false;
    if (ws) ws.close();
  }

  function live() {
    const st = state.session ? statusOf(state.session) : 'open';
    // An expired checkout keeps listening: a payment sent in time may
    // still confirm, and the page then shows it (paid late).
    return !state.finished && st !== 'paid' && st !== 'cancelled';
  }

  function startPolling() {
    if (state.pollTimer || !live()) return;
    state.pollTimer = setInterval(() => {
      if (state.socketOpen || !live()) return stopPolling();
      refresh();
    }, POLL_MS);
  }

  function stopPolling() {
    clearInterval(state.pollTimer);
    state.pollTimer = 0;
  }

  // --- Embedded mode ------------------------------------------------------------

  function watchSize() {
    if (!parentOrigin || typeof ResizeObserver !== 'function') return;
    let last = 0;
    const send = () => {
      const height = Math.ceil(document.body.getBoundingClientRect().height);
      if (height !== last) {
        last = height;
        window.parent.postMessage({ type: 'settle:resize', height }, parentOrigin);
      }
    };
    new ResizeObserver(send).observe(document.body);
    send();
  }

  // --- Start ----------------------------------------------------------------------

  function start() {
    if (!token || !sig) {
      fatal('This payment link is not valid', 'Open the complete link you were given, or ask the merchant for a new one.');
      return;
    }
    for (const b of document.querySelectorAll('button.copy')) b.addEventListener('click', () => copy(b));
    $('devnet-pay').addEventListener('click', devnetPay);
    for (const b of [$('simulate-full'), $('simulate-part')]) if (b) b.addEventListener('click', () => simulate(b));
    $('return').addEventListener('click', leave);
    $('tip-none').addEventListener('click', () => sendTip({ amount: '0' }));
    $('tip-custom').addEventListener('click', () => {
      const v = $('tip-amount').value.trim().replace(',', '.') || '0';
      const why = tipProblem(v);
      if (why) {
        $('tip-error').textContent = why;
        $('tip-error').hidden = false;
        return;
      }
      sendTip({ amount: v });
    });
    $('tip-amount').addEventListener('keydown', (ev) => { if (ev.key === 'Enter') $('tip-custom').click(); });
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible' && !state.finished) refresh();
    });
    window.addEventListener('online', () => refresh());
    watchSize();
    setInterval(everySecond, 1000);
    refresh().then(() => {
      if (!state.finished) connect();
    });
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
