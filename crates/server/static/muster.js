/* muster: the script of every page, served as /static/muster.js and loaded with `defer`
   (the document is parsed when it runs). The Content-Security-Policy allows no inline
   script or event handler: pages describe behaviour with data-* attributes and ids, and
   each part below does nothing on a page without its elements. */
(function () {
  "use strict";

  /* Show/Hide, Suggest Password, and dialogs opened or closed by data attributes:
     data-toggle-password="<input id>", data-suggest-password="<input id>",
     data-open-dialog="<dialog id>", data-close-dialog (closes its own dialog). */
  function setShown(input, button, shown) {
    input.type = shown ? "text" : "password";
    button.textContent = shown ? "Hide" : "Show";
    button.setAttribute("aria-pressed", shown ? "true" : "false");
  }
  document.addEventListener("click", function (ev) {
    var t = ev.target.closest("[data-toggle-password],[data-suggest-password],[data-open-dialog],[data-close-dialog]");
    if (!t) return;
    if (t.hasAttribute("data-toggle-password")) {
      var input = document.getElementById(t.getAttribute("data-toggle-password"));
      setShown(input, t, input.type === "password");
    } else if (t.hasAttribute("data-suggest-password")) {
      ev.preventDefault();
      var target = document.getElementById(t.getAttribute("data-suggest-password"));
      var toggle = document.querySelector('[data-toggle-password="' + target.id + '"]');
      /* anonymous on the reset page: the link's token proves the right to a suggestion */
      var reset = target.form && target.form.querySelector("input[name=token]");
      fetch("/password-suggestion", {credentials: "same-origin", cache: "no-store",
                                     headers: reset ? {"X-Reset-Token": reset.value} : {}})
        .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
        .then(function (j) {
          target.value = j.password;
          /* shown, so it can be read and noted down */
          if (toggle) setShown(target, toggle, true);
          target.dispatchEvent(new Event("input", {bubbles: true}));
        })
        .catch(function () { alert("No password could be suggested. Try again."); });
    } else if (t.hasAttribute("data-open-dialog")) {
      ev.preventDefault();
      document.getElementById(t.getAttribute("data-open-dialog")).showModal();
    } else {
      t.closest("dialog").close();
    }
  });
  /* A dialog rendered with data-open="1" (a form re-shown with errors) opens at once. */
  document.querySelectorAll("dialog[data-open='1']").forEach(function (d) { d.showModal(); });

  /* Delete: one confirmation dialog for the grid rows and the user page. The trigger is a
     link to the confirmation page (without JavaScript); here the dialog first asks the
     server whether the delete would be refused, and says why instead of offering Yes, Delete. */
  var deleteDialog = document.getElementById("delete-dialog");
  var deleteForm = document.getElementById("delete-form");
  if (deleteDialog && deleteForm) {
    document.querySelectorAll(".js-delete").forEach(function (b) {
      b.addEventListener("click", function (ev) {
        ev.preventDefault();
        deleteForm.action = b.dataset.action;
        // textContent: the name is shown as text, never as markup
        document.getElementById("delete-name").textContent = b.dataset.name;
        document.getElementById("delete-back").value = b.dataset.back || "";
        var question = document.getElementById("delete-question");
        var refused = document.getElementById("delete-refused");
        var wayOut = document.getElementById("delete-way-out");
        var ok = document.getElementById("confirm-delete");
        question.hidden = false; refused.hidden = true; wayOut.hidden = true;
        ok.hidden = false; ok.disabled = true;
        deleteDialog.showModal();
        fetch(b.dataset.action + "/check", {credentials: "same-origin", cache: "no-store"})
          .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
          .then(function (j) {
            if (!j.refused) { ok.disabled = false; return; }
            refused.textContent = j.refused; refused.hidden = false;
            question.hidden = true; ok.hidden = true;
            if (j.wayOut) { wayOut.href = j.wayOut.href; wayOut.textContent = j.wayOut.label; wayOut.hidden = false; }
          })
          // the check failed: let the admin confirm; the server still refuses what it must
          .catch(function () { ok.disabled = false; });
      });
    });
    document.getElementById("cancel-delete").addEventListener("click", function () { deleteDialog.close(); });
    // the way out may be a section of this very page (#records): close the dialog to show it
    document.getElementById("delete-way-out").addEventListener("click", function () { deleteDialog.close(); });
  }

  /* Menus (<details>): one open at a time, closed by Escape or a click elsewhere. */
  function closeMenus(except) {
    document.querySelectorAll("details.rowmenu[open], details.actionmenu[open]").forEach(function (d) {
      if (d !== except) d.removeAttribute("open");
    });
  }
  document.addEventListener("click", function (e) {
    closeMenus(e.target.closest ? e.target.closest("details") : null);
  });
  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape") {
      var open = document.querySelector("details.rowmenu[open], details.actionmenu[open]");
      if (open) { open.removeAttribute("open"); var s = open.querySelector("summary"); if (s) s.focus(); }
    }
  });

  /* The users grid's selection and mass actions: static/grid.js, loaded by that page. */

  /* A new API key: Copy. */
  var copy = document.getElementById("copy-api-key");
  if (copy) copy.addEventListener("click", async function () {
    var field = document.getElementById("api-key-value");
    var status = document.getElementById("copy-status");
    try {
      await navigator.clipboard.writeText(field.value);
    } catch (e) {
      field.select();
      document.execCommand("copy");
    }
    status.textContent = "Copied";
  });

  /* A page that follows running work (Exports) reloads itself: data-reload-after="<ms>". */
  var reload = document.querySelector("[data-reload-after]");
  if (reload) setTimeout(function () { location.reload(); }, Number(reload.getAttribute("data-reload-after")) || 3000);
})();
