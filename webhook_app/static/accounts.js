// Page selection, subscription checks and disconnect on the dashboard: JSON calls with the page's CSRF token.
(function () {
  "use strict";
  var errorBox = document.getElementById("accounts-error");

  var call = window.icApi;

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
    } else if (target.dataset.checkSubscription) {
      act("POST", "/api/accounts/subscriptions/" + encodeURIComponent(target.dataset.checkSubscription) + "/check",
          target);
    } else if (target.dataset.disconnect) {
      if (window.confirm("Disconnect this account? Its stored tokens are deleted.")) {
        act("DELETE", "/api/accounts/" + encodeURIComponent(target.dataset.disconnect), target);
      }
    }
  });
})();
