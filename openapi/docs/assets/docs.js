// Starts Swagger UI on this server's own spec. It lives in a file rather
// than inline so that the page's CSP allows scripts from 'self' only.
(function () {
  'use strict';
  var root = document.getElementById('swagger-ui');
  window.ui = SwaggerUIBundle({
    url: root.dataset.spec,
    domNode: root,
    // BaseLayout, without the standalone preset's top bar: this page shows
    // one spec, and a field to load another from anywhere would only be a
    // way to break the CSP.
    presets: [SwaggerUIBundle.presets.apis],
    layout: 'BaseLayout',
    deepLinking: true,
    // The default sends the spec's address to validator.swagger.io for a
    // badge: nothing leaves this server.
    validatorUrl: null,
    // Settings in the page's query (?url=, ?configUrl=) stay ignored.
    queryConfigEnabled: false,
    displayOperationId: true,
    displayRequestDuration: true,
    filter: true,
    tryItOutEnabled: false,
    persistAuthorization: false,
    defaultModelsExpandDepth: 0
  });
})();
