// A campaign's page: every few seconds ask whether the campaign changed elsewhere (the stock
// watch pausing it, a colleague, the clock) and load the page again when it did, unless a reason
// is being typed. The page works without it: reloading shows the same.
(function () {
  "use strict";
  var head = document.getElementById("campaign");
  if (!head) { return; }
  var url = head.getAttribute("data-status-url");
  var revision = head.getAttribute("data-revision");
  // The page's own address: after a refusal this document answers a POST, not to be resent.
  var page = head.getAttribute("data-page-url");

  function typing() {
    var box = document.getElementById("override-reason");
    return box && box.value.trim() !== "";
  }

  function poll() {
    fetch(url, {headers: {"Accept": "application/json"}})
      .then(function (answer) { return answer.ok ? answer.json() : null; })
      .then(function (found) {
        if (found && String(found.revision) !== revision && !typing()) { window.location.assign(page); }
      })
      .catch(function () { /* try again at the next tick */ });
  }
  setInterval(poll, 3000);
}());
