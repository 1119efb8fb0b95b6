// The one way the dashboard's scripts call the JSON API: same-origin cookies, the page's CSRF token.
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrf = meta ? meta.getAttribute("content") : "";

  window.icApi = function (method, url) {
    return fetch(url, {method: method, credentials: "same-origin",
                       headers: {"X-CSRFToken": csrf, "Accept": "application/json"}})
      .then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) { throw new Error(body.error || ("HTTP " + response.status)); }
          return body;
        });
      });
  };
})();
