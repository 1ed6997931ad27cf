// Stock watch: refresh the table from the page's JSON feed every 3 seconds (the page
// works without it: reloading it shows the same). No library: plain DOM.
(function () {
  "use strict";
  var table = document.getElementById("stock-watch");
  if (!table) { return; }
  var feed = table.getAttribute("data-feed");
  var body = table.querySelector("tbody");
  var asOf = document.getElementById("as-of");

  function cell(text, className) {
    var td = document.createElement("td");
    if (className) {
      var span = document.createElement("span");
      span.className = className;
      span.textContent = text;
      td.appendChild(span);
    } else {
      td.textContent = text;
    }
    return td;
  }

  function render(watch) {
    var rows = document.createDocumentFragment();
    watch.rows.forEach(function (row) {
      var tr = document.createElement("tr");
      tr.appendChild(cell(row.sku));
      tr.appendChild(cell(row.location));
      tr.appendChild(cell(String(row.available), "badge " + (row.state === "out" ? "badge-short" : "badge-at_risk")));
      tr.appendChild(cell(row.campaigns.map(function (c) { return c.name; }).join(", ")));
      rows.appendChild(tr);
    });
    if (!watch.rows.length) {
      var tr = document.createElement("tr");
      var td = cell("Every promoted product is above " + watch.threshold + " units everywhere it is promoted.");
      td.colSpan = 4;
      td.className = "muted";
      tr.appendChild(td);
      rows.appendChild(tr);
    }
    body.replaceChildren(rows);
    asOf.textContent = "Stock as of event " + watch.as_of_seq;
  }

  function refresh() {
    fetch(feed, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (answer) { return answer.ok ? answer.json() : null; })
      .then(function (watch) { if (watch) { render(watch); } })
      .catch(function () { /* the next tick tries again */ });
  }

  window.setInterval(refresh, 3000);
}());
