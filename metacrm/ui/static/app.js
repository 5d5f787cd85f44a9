// metacrm's own script for every page: small on purpose (UI.md §1.6).
// Behaviours attach to markup through data- attributes, on the first load
// and on every piece of page htmx swaps in. A screen's own behaviour lives
// in static/js/<screen>.js and registers itself with metacrm.behaviour().
(function () {
  "use strict";
  const behaviours = [];

  window.metacrm = {
    // behaviour(fn): fn(root) runs for the page and for each swapped-in fragment.
    behaviour(fn) {
      behaviours.push(fn);
      if (document.readyState !== "loading") fn(document);
    },
  };

  function attach(root) {
    for (const fn of behaviours) fn(root);
  }

  document.addEventListener("DOMContentLoaded", () => attach(document));
  document.addEventListener("htmx:load", (event) => {
    if (event.target !== document.body) attach(event.target);
  });

  // A server error during an htmx request: say so instead of doing nothing.
  document.addEventListener("htmx:responseError", (event) => {
    const status = event.detail.xhr.status;
    if (status >= 500) showToast(document.documentElement.lang.startsWith("zh") ? "出错了，请重试。" : "Something went wrong; please try again.");
  });

  // Toasts: the server sends HX-Trigger: {"toast": "text"} after an action.
  document.addEventListener("toast", (event) => showToast(event.detail.value));

  function showToast(text) {
    const region = document.getElementById("toasts");
    if (!region || !window.bootstrap) return;
    const toast = document.createElement("div");
    toast.className = "toast align-items-center text-bg-dark border-0";
    toast.setAttribute("role", "status");
    const body = document.createElement("div");
    body.className = "toast-body";
    body.textContent = text;
    toast.appendChild(body);
    region.appendChild(toast);
    toast.addEventListener("hidden.bs.toast", () => toast.remove());
    new window.bootstrap.Toast(toast).show();
  }
  window.metacrm.toast = showToast;

  // A printable document's "Print" button (no inline handlers under the CSP).
  document.addEventListener("click", (event) => {
    if (event.target.closest("[data-print]")) window.print();
  });
})();
