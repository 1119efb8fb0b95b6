// Page selection and disconnect on the dashboard: JSON calls with the page's CSRF token.
(function () {
  "use strict";
  var csrf = document.querySelector('meta[name="csrf-token"]').getAttribute("content");
  var errorBox = document.getElementById("accounts-error");

  function call(method, url) {
    return fetch(url, {method: method, credentials: "same-origin",
                       headers: {"X-CSRFToken": csrf, "Accept": "application/json"}})
      .then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) { throw new Error(body.error || ("HTTP " + response.status)); }
          return body;
        });
      });
  }

  function act(method, url, button) {
    button.disabled = true;
    call(method, url).then(function () { window.location.reload(); }).catch(function (err) {
      button.disabled = false;
      if (errorBox) { errorBox.textContent = err.message; errorBox.hidden = false; }
    });
  }

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (target.dataset.selectPage) {
      act("POST", "/api/pages/" + encodeURIComponent(target.dataset.selectPage) + "/select", target);
    } else if (target.dataset.disconnect) {
      if (window.confirm("Disconnect this account? Its stored tokens are deleted.")) {
        act("DELETE", "/api/accounts/" + encodeURIComponent(target.dataset.disconnect), target);
      }
    }
  });
})();
