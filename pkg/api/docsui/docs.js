// Starts Swagger UI on the OpenAPI document served next to this page. It is
// a file of its own, not an inline script, so that the page's
// Content-Security-Policy can forbid inline scripts altogether.
(function () {
  "use strict";

  var root = document.getElementById("swagger-ui");
  // The page is /docs, the document /openapi.json, both at the service's
  // root. Resolving against the page keeps a path prefix that an ingress
  // strips before the request reaches usersapi (https://host/mirror/docs).
  var spec = new URL(root.dataset.spec, document.baseURI).href;
  var prefix = location.pathname.replace(/\/docs\/?$/, "");

  window.ui = SwaggerUIBundle({
    url: spec,
    domNode: root,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    deepLinking: true,
    // The public validator would send the document to another origin.
    validatorUrl: null,
    // "Try it out" calls the paths of the document (which carry BASE_PATH)
    // on this origin; behind an ingress that strips a prefix they need
    // that prefix back.
    requestInterceptor: function (req) {
      if (prefix === "" || req.loadSpec) {
        return req;
      }
      var u = new URL(req.url, location.href);
      if (u.origin === location.origin && u.pathname.indexOf(prefix + "/") !== 0) {
        u.pathname = prefix + u.pathname;
        req.url = u.href;
      }
      return req;
    },
  });
})();
