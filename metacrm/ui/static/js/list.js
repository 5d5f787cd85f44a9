// The list screen (templates/lists): what htmx attributes cannot say.
// - the filter form sends no empty controls (clean URLs);
// - the bulk bar shows when rows are ticked, with the part of the chosen action;
// - the bulk request carries the list's own query, so the answer is the same list;
// - "save as my view" saves the list as the URL says it is now.
(function () {
  "use strict";

  document.addEventListener("htmx:configRequest", (event) => {
    const source = event.detail.elt;
    if (source.id === "list-form" || source.form?.id === "list-form") {
      const data = event.detail.formData;
      for (const key of [...new Set(data.keys())]) {
        const kept = data.getAll(key).filter((value) => value !== "");
        data.delete(key);
        for (const value of kept) data.append(key, value);
      }
    }
    if (source.id === "bulk-form") event.detail.path = source.getAttribute("action") + window.location.search;
  });

  function selected() {
    return document.querySelectorAll('input[name="ids"][form="bulk-form"]:checked');
  }

  function refreshBulk() {
    const form = document.getElementById("bulk-form");
    if (!form) return;
    const count = selected().length;
    form.hidden = count === 0;
    const label = form.querySelector("[data-bulk-count]");
    label.textContent = count === 1 ? label.dataset.one : label.dataset.many.replace("{n}", count);
    const action = form.querySelector("[data-bulk-action]").value;
    for (const part of form.querySelectorAll("[data-bulk-for]")) part.hidden = part.dataset.bulkFor !== action;
  }

  document.addEventListener("change", (event) => {
    const target = event.target;
    if (target.matches("[data-select-all]")) {
      for (const box of document.querySelectorAll('input[name="ids"][form="bulk-form"]')) box.checked = target.checked;
    }
    if (target.matches('input[name="ids"], [data-select-all], [data-bulk-action]')) refreshBulk();
  });

  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (form.matches("[data-save-view]")) form.elements.query.value = window.location.search.slice(1);
  });

  // A multi-value filter (select[multiple][data-choices]) picks its values as
  // removable chips (Tom Select, vendored) rather than in a tall list box.
  function chips(select) {
    if (select.tomselect || !window.TomSelect) return;
    new window.TomSelect(select, {
      plugins: ["remove_button"],
      placeholder: select.dataset.placeholder || "",
      hidePlaceholder: true,
      maxOptions: null,
    });
    select.setAttribute("aria-hidden", "true");
  }

  window.metacrm.behaviour((root) => {
    root.querySelectorAll("select[multiple][data-choices]").forEach(chips);
    refreshBulk();
  });
})();
