// The waiting page of a scanned QR code: starts a session, polls it until
// its invoice exists and then opens the checkout; tells the server when
// the payor leaves first. No framework; everything from this server.
(function () {
  'use strict';
  var root = document.getElementById('qr');
  var token = null;
  var finished = false;
  var failTitle = document.getElementById('qr-failure-title');
  var failText = document.getElementById('qr-failure-text');

  function fail(title, text) {
    finished = true;
    failTitle.textContent = title;
    failText.textContent = text;
    document.getElementById('waiting').hidden = true;
    document.getElementById('qr-failure').hidden = false;
    root.setAttribute('aria-busy', 'false');
    root.dataset.state = 'failed';
  }

  function show(s) {
    root.dataset.status = s.status;
    switch (s.status) {
      case 'invoiced':
        if (s.payment_url) {
          finished = true;
          window.location.replace(s.payment_url);
          return;
        }
        break;
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
    setTimeout(poll, 500);
  }

  function poll() {
    fetch('/q/s/' + encodeURIComponent(token), { cache: 'no-store' })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(show)
      .catch(function () { setTimeout(poll, 1500); });
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
    })
    .catch(function () { fail('This order could not start', 'Check your connection and scan the code again.'); });

  window.addEventListener('pagehide', function () {
    if (token && !finished) {
      navigator.sendBeacon('/q/s/' + encodeURIComponent(token) + '/cancel');
    }
  });
})();
