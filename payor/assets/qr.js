// The waiting page of a scanned QR code: starts a session, follows it over
// its WebSocket (/q/s/{token}/ws, which pushes the session's status as it
// changes) until its invoice exists and then opens the checkout; polls
// /q/s/{token} only while the socket is down or refused. Tells the server
// when the payor leaves first. No framework; everything from this server.
(function () {
  'use strict';
  var POLL_MS = 1000;
  var root = document.getElementById('qr');
  var token = null;
  var finished = false;
  var socket = null;
  var socketOpen = false;
  var retry = 0;
  var pollTimer = 0;
  var failTitle = document.getElementById('qr-failure-title');
  var failText = document.getElementById('qr-failure-text');

  function fail(title, text) {
    finished = true;
    stopPolling();
    failTitle.textContent = title;
    failText.textContent = text;
    document.getElementById('waiting').hidden = true;
    document.getElementById('qr-failure').hidden = false;
    root.setAttribute('aria-busy', 'false');
    root.dataset.state = 'failed';
  }

  // show renders a status (from the start, the socket or a poll).
  function show(s) {
    if (finished || !s || typeof s.status !== 'string') return;
    root.dataset.status = s.status;
    switch (s.status) {
      case 'invoiced':
        if (s.payment_url) {
          finished = true;
          stopPolling();
          window.location.replace(s.payment_url);
        }
        return;
      case 'down':
        fail('Not available right now', s.down_response_text || 'The machine is not available.');
        return;
      case 'failed':
        fail('This order could not start', 'The machine did not answer. Please try again in a moment.');
        return;
      case 'timed_out':
        fail('This order timed out', 'Nothing was ordered. Scan the code again to start over.');
        return;
      case 'canceled':
        fail('This order was canceled', 'Scan the code again to start over.');
        return;
    }
  }

  function connect() {
    if (finished || socket) return;
    var proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    var ws;
    try {
      ws = new WebSocket(proto + '//' + location.host + '/q/s/' + encodeURIComponent(token) + '/ws');
    } catch (e) {
      startPolling();
      return;
    }
    socket = ws;
    ws.onopen = function () {
      socketOpen = true;
      retry = 0;
      root.dataset.transport = 'socket';
      stopPolling();
    };
    ws.onmessage = function (ev) {
      var m;
      try { m = JSON.parse(ev.data); } catch (e) { return; }
      if (m && typeof m === 'object') show(m);
    };
    ws.onclose = function () {
      socketOpen = false;
      if (socket !== ws) return;
      socket = null;
      if (finished) return;
      // Refused, cut or closed before the end: poll, and try again later.
      startPolling();
      setTimeout(connect, Math.min(60000, 2000 * Math.pow(2, retry++)));
    };
  }

  function poll() {
    fetch('/q/s/' + encodeURIComponent(token), { cache: 'no-store' })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(show)
      .catch(function () {});
  }

  function startPolling() {
    if (pollTimer || finished) return;
    root.dataset.transport = 'polling';
    poll();
    pollTimer = setInterval(function () {
      if (socketOpen || finished) { stopPolling(); return; }
      poll();
    }, POLL_MS);
  }

  function stopPolling() {
    clearInterval(pollTimer);
    pollTimer = 0;
  }

  fetch(root.dataset.start, { method: 'POST', cache: 'no-store' })
    .then(function (r) { return r.json().then(function (j) { return { ok: r.ok, body: j }; }); })
    .then(function (res) {
      if (!res.ok) {
        fail(res.body.title || 'This order could not start', res.body.message || 'Please scan the code again.');
        return;
      }
      token = res.body.token;
      show(res.body);
      connect();
    })
    .catch(function () { fail('This order could not start', 'Check your connection and scan the code again.'); });

  window.addEventListener('pagehide', function () {
    if (token && !finished) {
      navigator.sendBeacon('/q/s/' + encodeURIComponent(token) + '/cancel');
    }
    if (socket) { socket.onclose = null; socket.close(); }
  });
})();
