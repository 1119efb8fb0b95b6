// The WhatsApp templates card: counts by status, last sync and error, and the Sync Now button.
(function () {
  "use strict";
  var card = document.getElementById("templates-card");
  if (!card) { return; }
  var button = document.getElementById("templates-sync");
  var errorBox = document.getElementById("templates-error");
  var REFRESH_MS = 5000;

  var call = window.icApi;

  function when(iso) { return iso ? new Date(iso).toLocaleString() : "never"; }

  function showError(message) {
    errorBox.textContent = message || "";
    errorBox.hidden = !message;
  }

  function render(status) {
    var summary = document.getElementById("templates-summary");
    summary.textContent = status.accounts.length === 0
      ? "Connect WhatsApp to see your message templates."
      : status.approved + " approved of " + status.total + " templates" + (status.running ? " · syncing…" : "");
    var list = document.getElementById("templates-counts");
    list.textContent = "";
    Object.keys(status.counts).forEach(function (name) {
      var item = document.createElement("li");
      item.className = "status status-" + name.toLowerCase();
      item.textContent = name.toLowerCase() + ": " + status.counts[name];
      list.appendChild(item);
    });
    document.getElementById("templates-last-sync").textContent = when(status.last_synced_at);
    button.hidden = status.accounts.length === 0;
    showError(status.last_error);
  }

  function renderHealth(health) {
    var text = (health.verified ? "verified" : "not verified yet") +
      " · last received " + when(health.last_received_at) +
      " · failed in the last hour: " + health.last_hour.failed + " of " + health.last_hour.received;
    document.getElementById("templates-webhook-health").textContent = text;
  }

  function refresh() {
    call("GET", "/api/templates/status").then(render).catch(function (err) { showError(err.message); });
    call("GET", "/api/webhook-health").then(renderHealth).catch(function () {});
  }

  button.addEventListener("click", function () {
    button.disabled = true;
    button.textContent = "Syncing…";
    call("POST", "/api/templates/sync").catch(function (err) { showError(err.message); })
      .then(function () { button.disabled = false; button.textContent = "Sync now"; refresh(); });
  });

  refresh();
  setInterval(refresh, REFRESH_MS);
})();
