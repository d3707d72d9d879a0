/* muster: ask before an action that cannot be undone (Reset Password, Generate Key over a
   key, Revoke, End session). The button is a link to the action's confirmation page (GET),
   which is what a browser without JavaScript shows. Here the link opens a dialog instead,
   whose form posts to the same URL: the link's query becomes hidden fields, and the CSRF
   token is taken from the page (it never travels in a URL). The link says what to ask:
   data-confirm="<question>", data-confirm-title, data-confirm-button. */
(function () {
  "use strict";
  var dialog = null;

  function el(tag, props) {
    var e = document.createElement(tag);
    Object.keys(props || {}).forEach(function (k) { e[k] = props[k]; });
    return e;
  }

  function build() {
    dialog = el("dialog", {id: "confirm-dialog", className: "confirm-dialog"});
    dialog.setAttribute("aria-labelledby", "confirm-dialog-title");
    var form = el("form", {method: "post", id: "confirm-dialog-form"});
    var cancel = el("button", {type: "button", className: "secondary", id: "confirm-dialog-cancel", textContent: "Cancel"});
    cancel.addEventListener("click", function () { dialog.close(); });
    var buttons = el("p", {className: "dialog-buttons"});
    buttons.append(cancel, el("button", {type: "submit", className: "danger", id: "confirm-dialog-submit"}));
    form.append(el("h2", {id: "confirm-dialog-title"}), el("p", {id: "confirm-dialog-message"}),
                el("div", {id: "confirm-dialog-fields"}), buttons);
    dialog.append(form);
    document.body.append(dialog);
  }

  function hidden(name, value) {
    return el("input", {type: "hidden", name: name, value: value});
  }

  document.addEventListener("click", function (ev) {
    var a = ev.target.closest ? ev.target.closest("a[data-confirm]") : null;
    if (!a) return;
    var csrf = document.querySelector("input[name=csrf]");
    // no token on the page, or no <dialog>: follow the link, the page asks
    if (!csrf || typeof HTMLDialogElement === "undefined") return;
    ev.preventDefault();
    if (!dialog) build();
    var url = new URL(a.href, location.href);
    dialog.querySelector("form").action = url.pathname;
    var fields = dialog.querySelector("#confirm-dialog-fields");
    fields.replaceChildren(hidden("csrf", csrf.value));
    url.searchParams.forEach(function (v, k) { if (k !== "csrf") fields.append(hidden(k, v)); });
    // textContent: names in the question are shown as text, never as markup
    dialog.querySelector("#confirm-dialog-title").textContent = a.dataset.confirmTitle || a.textContent;
    dialog.querySelector("#confirm-dialog-message").textContent = a.dataset.confirm;
    dialog.querySelector("#confirm-dialog-submit").textContent = a.dataset.confirmButton || a.textContent;
    var menu = a.closest("details");
    if (menu) menu.removeAttribute("open");
    dialog.showModal();
  });
})();
