// settle embedded checkout. Load it from your settle server and mount a
// checkout into an element of your page:
//
//   <script src="https://pay.example.com/embed.js"></script>
//   <div id="pay"></div>
//   <script type="module">
//     // session: the invoice's payment_session_headers, from your backend
//     const { session } = await (await fetch('/checkout', { method: 'POST' })).json();
//     const checkout = Settle.mount(document.getElementById('pay'), {
//       sessionToken: session['x-session-token'], signature: session['x-signature'],
//       onPaid() {}, onExpired() {}, onClosed() {},
//     });
//     // checkout.unmount() removes it.
//   </script>
//
// (The README's section "Checkout (the payor's side)" has the whole
// example, backend included, and a test runs it.)
//
// The element also receives the DOM events settle:paid, settle:expired and
// settle:closed. Treat onPaid as a hint to refresh your page: the settle
// webhook (or GET /api/v1/invoices/{id}) is the proof of payment.
'use strict';

(() => {
  const script = document.currentScript ||
    [...document.getElementsByTagName('script')].reverse().find((s) => /\/embed\.js(\?|#|$)/.test(s.src));
  let settleOrigin = '';
  try {
    settleOrigin = new URL(script.src).origin;
  } catch (e) {
    settleOrigin = '';
  }

  const EVENTS = { 'settle:paid': 'onPaid', 'settle:expired': 'onExpired', 'settle:closed': 'onClosed' };
  const MIN_HEIGHT = 120;
  const MAX_HEIGHT = 4000;

  function mount(element, options) {
    if (typeof element === 'string') element = document.querySelector(element);
    if (!(element instanceof Element)) throw new TypeError('Settle.mount: element must be a DOM element or a selector');
    const opts = options || {};
    const token = opts.sessionToken;
    const sig = opts.signature;
    if (typeof token !== 'string' || !token || typeof sig !== 'string' || !sig) {
      throw new TypeError('Settle.mount: sessionToken and signature are required (the invoice\'s payment_session_headers)');
    }
    if (!settleOrigin) throw new Error('Settle.mount: cannot tell where embed.js was loaded from');

    const iframe = document.createElement('iframe');
    iframe.src = `${settleOrigin}/pay/${encodeURIComponent(token)}?sig=${encodeURIComponent(sig)}` +
      `&embed=1&origin=${encodeURIComponent(location.origin)}`;
    iframe.title = 'Checkout';
    iframe.allow = 'clipboard-write';
    iframe.referrerPolicy = 'no-referrer';
    iframe.setAttribute('scrolling', 'no');
    iframe.style.border = '0';
    iframe.style.width = '100%';
    iframe.style.display = 'block';
    iframe.style.height = '640px'; // until the page reports its own height

    function onMessage(event) {
      if (event.origin !== settleOrigin || event.source !== iframe.contentWindow) return;
      const data = event.data;
      if (!data || typeof data !== 'object' || typeof data.type !== 'string') return;
      if (data.type === 'settle:resize') {
        const h = Number(data.height);
        if (Number.isFinite(h)) iframe.style.height = Math.min(MAX_HEIGHT, Math.max(MIN_HEIGHT, Math.ceil(h))) + 'px';
        return;
      }
      const callback = EVENTS[data.type];
      if (!callback) return;
      if (typeof opts[callback] === 'function') {
        try {
          opts[callback]();
        } catch (err) {
          setTimeout(() => { throw err; }); // report it without stopping the DOM event
        }
      }
      element.dispatchEvent(new CustomEvent(data.type, { bubbles: true }));
    }

    window.addEventListener('message', onMessage);
    element.appendChild(iframe);

    let mounted = true;
    return {
      unmount() {
        if (!mounted) return;
        mounted = false;
        window.removeEventListener('message', onMessage);
        iframe.remove();
      },
    };
  }

  window.Settle = Object.freeze({ mount });
})();
