/* The users grid (/admin/users), loaded with `defer` after muster.js. No inline script is
   allowed (CSP): the page describes behaviour with ids and data-* attributes.
   - selection: the page's rows, "select all N matching" with the unticked rows as exceptions;
   - mass actions ask first, naming the count the server will act on (the ticked rows, or
     the selection's total minus the exceptions); without this script their buttons post to
     the server's confirmation page instead;
   - the filter bar's selects and the page size apply at once; popovers close like menus. */
(function () {
  "use strict";

  var page = document.getElementById("select-page");
  var all = document.getElementById("select-all-matching");
  var note = document.getElementById("selection-note");
  var mass = document.getElementById("mass-form");
  var matching = document.getElementById("matching-count");
  var boxes = function () { return Array.prototype.slice.call(document.querySelectorAll(".row-check")); };
  var ticked = function () { return boxes().filter(function (b) { return b.checked; }).length; };
  var fmt = function (n) { return n.toLocaleString("en-US"); };

  /* How many users the mass action will take: what the server counts for the same form. */
  function selected() {
    if (all && all.checked) {
      var total = Number(matching.getAttribute("data-total")) || 0;
      return Math.max(0, total - (boxes().length - ticked()));
    }
    return ticked();
  }

  function update() {
    if (!note) return;
    if (all && all.checked) {
      var except = boxes().length - ticked();
      note.textContent = "All " + matching.textContent + " matching users selected" + (except ? ", except " + except : "");
    } else {
      var n = ticked();
      note.textContent = n ? n + " selected" : "";
    }
  }
  if (page) page.addEventListener("change", function () { boxes().forEach(function (b) { b.checked = page.checked; }); update(); });
  if (all) all.addEventListener("change", function () { boxes().forEach(function (b) { b.checked = all.checked; }); if (page) page.checked = all.checked; update(); });
  boxes().forEach(function (b) { b.addEventListener("change", update); });

  if (mass) mass.addEventListener("submit", function (ev) {
    mass.querySelectorAll("input[name=except]").forEach(function (e) { e.remove(); });
    var by = ev.submitter;
    // past a capped total this page does not know the count: the server's confirmation page counts it
    var uncounted = all && all.checked && matching.hasAttribute("data-at-least");
    if (by && by.hasAttribute("data-confirm") && !uncounted) {
      // a mass button: ask first, in its dialog, naming the count
      ev.preventDefault();
      var n = selected();
      if (n === 0) { note.textContent = "Select at least one user."; return; }
      var dialog = document.getElementById(by.getAttribute("data-confirm"));
      var phrase = fmt(n) + (n === 1 ? " user" : " users");
      dialog.querySelector("[data-question]").textContent = by.getAttribute("data-question").replace("{n}", phrase);
      var ok = dialog.querySelector("[data-confirm-button]");
      // red for what takes access away, plain for Enable
      if (ok) { ok.value = by.value; ok.textContent = by.textContent; ok.classList.toggle("danger", by.value !== "enable"); }
      dialog.showModal();
      return;
    }
    // confirmed: "all matching, except" — the rows unticked on this page travel as exceptions
    if (!all || !all.checked) return;
    boxes().filter(function (b) { return !b.checked; }).forEach(function (b) {
      var e = document.createElement("input");
      e.type = "hidden"; e.name = "except"; e.value = b.value;
      mass.appendChild(e);
    });
  });

  /* The filter bar's selects apply at once (the Search button does it without script). */
  document.querySelectorAll("#filter-form select.autosubmit").forEach(function (s) {
    s.addEventListener("change", function () { s.form.requestSubmit(); });
  });
  /* A new page size starts again at page 1. */
  var size = document.getElementById("page-size");
  if (size) size.addEventListener("change", function () {
    document.getElementById("go-page").value = "1";
    size.form.requestSubmit();
  });

  /* Popovers (<details class="popover">): one open at a time, closed by Escape or a click elsewhere. */
  function closePopovers(except) {
    document.querySelectorAll("details.popover[open]").forEach(function (d) { if (d !== except) d.removeAttribute("open"); });
  }
  document.addEventListener("click", function (e) {
    closePopovers(e.target.closest ? e.target.closest("details.popover") : null);
  });
  document.addEventListener("keydown", function (e) {
    if (e.key !== "Escape") return;
    var open = document.querySelector("details.popover[open]");
    if (open) { open.removeAttribute("open"); open.querySelector("summary").focus(); }
  });
})();
