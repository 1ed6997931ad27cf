// Campaign builder: the product picker, the fields that belong to the chosen discount and
// targeting, and the side panel that checks the form against live stock as it changes.
// Plain DOM, no library; the form itself is an ordinary POST.
(function () {
  "use strict";
  var form = document.getElementById("campaign-form");
  if (!form) { return; }

  // --- fields that belong to a choice -------------------------------------------------
  function showFor(attribute, value) {
    form.querySelectorAll("[" + attribute + "]").forEach(function (part) {
      part.hidden = part.getAttribute(attribute).split(" ").indexOf(value) < 0;
    });
  }
  function chosenTargeting() {
    var checked = form.querySelector("input[name=targeting_type]:checked");
    return checked ? checked.value : "everyone";
  }
  function showChoices() {
    showFor("data-discount", form.discount_type.value);
    showFor("data-targeting", chosenTargeting());
  }

  // --- the product picker -------------------------------------------------------------
  var search = document.getElementById("product-search");
  var results = document.getElementById("picker-results");
  var picked = document.getElementById("picked");
  var searchTimer = null;
  var searchSeq = 0;

  function alreadyPicked(kind, value) {
    return Array.prototype.some.call(picked.querySelectorAll("input[name=" + kind + "]"), function (input) {
      return input.value === value;
    });
  }

  function addChip(kind, value, label) {
    if (alreadyPicked(kind, value)) { return; }
    var item = document.createElement("li");
    item.className = "chip";
    var hidden = document.createElement("input");
    hidden.type = "hidden";
    hidden.name = kind;
    hidden.value = value;
    item.appendChild(hidden);
    item.appendChild(document.createTextNode(label + " "));
    var remove = document.createElement("button");
    remove.type = "button";
    remove.className = "remove";
    remove.setAttribute("aria-label", "Remove " + label);
    remove.textContent = "×";
    item.appendChild(remove);
    picked.appendChild(item);
    schedulePreview();
  }

  function resultButton(kind, value, label) {
    var item = document.createElement("li");
    var button = document.createElement("button");
    button.type = "button";
    button.className = "pick";
    button.textContent = label;
    button.addEventListener("click", function () {
      addChip(kind, value, label);
      search.focus();
    });
    item.appendChild(button);
    return item;
  }

  function showResults(found) {
    results.textContent = "";
    found.products.forEach(function (p) {
      results.appendChild(resultButton("sku", p.sku, "product " + p.name + " (" + p.sku + ")"));
    });
    found.categories.forEach(function (c) {
      results.appendChild(resultButton("category", c.name, "category " + c.name + " (" + c.products + " products)"));
    });
    found.brands.forEach(function (b) {
      results.appendChild(resultButton("brand", b.name, "brand " + b.name + " (" + b.products + " products)"));
    });
    if (!results.children.length && search.value.trim().length >= 2) {
      var none = document.createElement("li");
      none.className = "muted";
      none.textContent = "Nothing matches “" + search.value.trim() + "”.";
      results.appendChild(none);
    }
  }

  function runSearch() {
    var text = search.value.trim();
    var mine = ++searchSeq;
    if (text.length < 2) { results.textContent = ""; return; }
    fetch(form.getAttribute("data-search") + "?q=" + encodeURIComponent(text), {headers: {"Accept": "application/json"}})
      .then(function (answer) { return answer.ok ? answer.json() : null; })
      .then(function (found) { if (found && mine === searchSeq) { showResults(found); } })
      .catch(function () { /* the next keystroke searches again */ });
  }

  search.addEventListener("input", function () {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(runSearch, 200);
  });
  search.addEventListener("keydown", function (event) {
    if (event.key === "Enter") { event.preventDefault(); runSearch(); }
    if (event.key === "ArrowDown") {
      var first = results.querySelector("button");
      if (first) { event.preventDefault(); first.focus(); }
    }
    if (event.key === "Escape") { search.value = ""; results.textContent = ""; }
  });
  results.addEventListener("keydown", function (event) {
    var buttons = Array.prototype.slice.call(results.querySelectorAll("button"));
    var at = buttons.indexOf(document.activeElement);
    if (event.key === "ArrowDown" && at < buttons.length - 1) { event.preventDefault(); buttons[at + 1].focus(); }
    if (event.key === "ArrowUp") { event.preventDefault(); (at > 0 ? buttons[at - 1] : search).focus(); }
  });
  picked.addEventListener("click", function (event) {
    if (event.target.classList.contains("remove")) {
      event.target.closest("li").remove();
      search.focus();
      schedulePreview();
    }
  });

  // --- the side panel -----------------------------------------------------------------
  var previewTimer = null;
  var previewSeq = 0;
  var state = document.getElementById("preview-state");

  function setText(id, text) { document.getElementById(id).textContent = text; }

  function showProblems(errors) {
    var list = document.getElementById("pv-errors");
    list.textContent = "";
    Object.keys(errors).forEach(function (field) {
      errors[field].forEach(function (message) {
        var item = document.createElement("li");
        item.textContent = (field === "_form" ? "" : field.replace(/\./g, " ").replace(/_/g, " ") + ": ") + message;
        list.appendChild(item);
      });
    });
  }

  function badge(verdict, policyMet) {
    var span = document.createElement("span");
    span.className = "badge badge-" + verdict;
    span.textContent = verdict.replace("_", " ") + (policyMet ? " · policy met" : " · policy not met");
    return span;
  }

  function showCheck(check) {
    var audience = check.audience;
    setText("pv-audience", audience.eligible.toLocaleString() + " customers (" + audience.treated.toLocaleString() + " treated)");
    setText("pv-holdout", audience.held_out.toLocaleString());
    setText("pv-expected", check.expected_redemptions.toLocaleString() + " (" + check.expected_from.replace("_", " ") + ")");
    setText("pv-products", String(check.products));
    setText("pv-locations", check.locations + " (" + check.counts.short + (check.counts.short === 1 ? " pair" : " pairs") + " short, " + check.counts.at_risk + " at risk)");
    var verdict = document.getElementById("pv-verdict");
    verdict.textContent = "";
    verdict.appendChild(badge(check.verdict, check.policy_met));
    var table = document.getElementById("pv-pairs");
    var body = table.querySelector("tbody");
    body.textContent = "";
    check.positions.forEach(function (pair) {
      var row = document.createElement("tr");
      [pair.sku, pair.location].forEach(function (text) {
        var cell = document.createElement("td");
        cell.textContent = text;
        row.appendChild(cell);
      });
      var available = document.createElement("td");
      var mark = document.createElement("span");
      mark.className = "badge badge-" + pair.status;
      mark.title = pair.status.replace("_", " ");
      mark.textContent = String(pair.available);
      available.appendChild(mark);
      row.appendChild(available);
      var expected = document.createElement("td");
      expected.textContent = String(pair.expected_units);
      row.appendChild(expected);
      body.appendChild(row);
    });
    table.hidden = check.positions.length === 0;
  }

  function runPreview() {
    var mine = ++previewSeq;
    state.textContent = "Checking…";
    fetch(form.getAttribute("data-preview"), {method: "POST", body: new FormData(form),
                                               headers: {"Accept": "application/json"}})
      .then(function (answer) { return answer.ok ? answer.json() : Promise.reject(answer.status); })
      .then(function (found) {
        if (mine !== previewSeq) { return; }
        showProblems(found.errors || {});
        if (found.check) {
          showCheck(found.check);
          state.textContent = "Checked against stock as of event " + found.check.as_of_seq + ".";
        } else {
          state.textContent = "The form is not complete yet: see below.";
        }
      })
      .catch(function () {
        if (mine === previewSeq) { state.textContent = "The check could not run; it will try again on the next change."; }
      });
  }

  function schedulePreview() {
    clearTimeout(previewTimer);
    previewTimer = setTimeout(runPreview, 400);
  }

  form.addEventListener("input", function (event) {
    if (event.target !== search) { schedulePreview(); }
  });
  form.addEventListener("change", function (event) {
    if (event.target !== search) { showChoices(); schedulePreview(); }
  });
  showChoices();
  runPreview();
}());
