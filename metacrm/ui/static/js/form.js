// Record forms: lookup fields become typeaheads (Tom Select, vendored) that
// search the target object through /o/<object>/lookup?q= with the user's
// guard. Conditions and default values are not evaluated here: the form's
// htmx round trip asks the server (UI.md §1.3).
(function () {
  "use strict";

  function typeahead(select) {
    if (select.tomselect || select.disabled || !window.TomSelect) return;
    const target = select.dataset.lookup;
    const ts = new window.TomSelect(select, {
      valueField: "value",
      labelField: "text",
      searchField: ["text"],
      placeholder: select.dataset.placeholder || "",
      maxOptions: 20,
      preload: "focus",
      loadThrottle: 250,
      shouldLoad: () => true,
      load(query, callback) {
        fetch(`/o/${encodeURIComponent(target)}/lookup?q=${encodeURIComponent(query)}`, {
          headers: { Accept: "application/json" },
          credentials: "same-origin",
        })
          .then((response) => (response.ok ? response.json() : []))
          .then((items) => callback(items))
          .catch(() => callback());
      },
      render: {
        no_results: () => `<div class="no-results">${document.documentElement.lang.startsWith("zh") ? "没有匹配的记录" : "No matching records"}</div>`,
      },
    });
    // The typeahead's own input is what a user types in: name it after the field's label.
    const label = document.querySelector(`label[for="${select.id}"]`);
    if (label && ts.control_input) {
      label.htmlFor = ts.control_input.id = `${select.id}-ts`;
    }
  }

  window.metacrm.behaviour((root) => {
    root.querySelectorAll("select[data-lookup]").forEach(typeahead);
  });
})();
