// Access screens: a picker (role, object) shows its choice at once, and the
// explain screen's record field is a typeahead over the chosen object
// (/o/<object>/lookup?q=, as record forms use it).
(function () {
  "use strict";
  window.metacrm.behaviour((root) => {
    for (const form of root.querySelectorAll("form[data-autosubmit]")) {
      for (const select of form.querySelectorAll("select")) {
        select.addEventListener("change", () => form.requestSubmit());
      }
    }
    for (const select of root.querySelectorAll("select[data-record-for]")) {
      if (select.tomselect || !window.TomSelect) continue;
      const objectSelect = document.getElementById(select.dataset.recordFor);
      const ts = new window.TomSelect(select, {
        valueField: "value",
        labelField: "text",
        searchField: ["text"],
        create: false,
        maxOptions: 20,
        preload: "focus",
        loadThrottle: 250,
        load(query, callback) {
          const target = objectSelect ? objectSelect.value : "";
          if (!target) return callback();
          fetch(`/o/${encodeURIComponent(target)}/lookup?q=${encodeURIComponent(query)}`, {
            headers: { Accept: "application/json" },
            credentials: "same-origin",
          })
            .then((response) => (response.ok ? response.json() : []))
            .then((items) => callback(items))
            .catch(() => callback());
        },
      });
      select.setAttribute("aria-hidden", "true");
      if (objectSelect) {
        objectSelect.addEventListener("change", () => {
          ts.clear();
          ts.clearOptions();
        });
      }
    }
  });
})();
