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
    // Tom Select names its own input after the <label> (aria-labelledby) and
    // points the label there; the hidden original (tabindex -1) leaves the
    // accessibility tree, so the field is one combobox.
    select.setAttribute("aria-hidden", "true");
    // Typing a search is not editing the record: keep it from the form's live round trip.
    if (ts.control_input) ts.control_input.addEventListener("input", (event) => event.stopPropagation());
  }

  window.metacrm.behaviour((root) => {
    root.querySelectorAll("select[data-lookup]").forEach(typeahead);
  });
})();
