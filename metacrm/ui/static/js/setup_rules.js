// Setup of rules (automations, validation rules): an api name suggested
// from the label until the admin types one (data-suggest-from="<id of the
// label input>"), and selects that submit their form when changed
// (data-autosubmit: choosing the object of a new automation); the dry
// run's record typeahead closes once a record is chosen. The rule
// editor's live check itself is htmx (setup/_controls.html).
(function () {
  "use strict";

  function apiName(text) {
    const name = text
      .normalize("NFKD")
      .replace(/[\u0300-\u036f]/g, "")
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, "_")
      .replace(/^_+|_+$/g, "")
      .replace(/^[^a-z]+/, "");
    return name.slice(0, 63);
  }

  metacrm.behaviour((root) => {
    for (const target of root.querySelectorAll("input[data-suggest-from]")) {
      const source = document.getElementById(target.dataset.suggestFrom);
      if (!source) continue;
      let typed = target.value !== "";
      target.addEventListener("input", () => {
        typed = target.value !== "";
      });
      source.addEventListener("input", () => {
        if (!typed) target.value = apiName(source.value);
      });
    }
    // The dry run's record picker (a typeahead made by form.js): once a
    // record is chosen, close the list so the button below is in reach.
    for (const select of root.querySelectorAll(".dry-run-form select[data-lookup]")) {
      const ts = select.tomselect;
      if (!ts) continue;
      ts.settings.closeAfterSelect = true;
      // Tom Select's search of what was typed runs late (throttled) and
      // reopens the list, focused, after the choice: close it again then,
      // until the admin presses a key or clicks the picker themselves.
      let chosen = false;
      const done = () => setTimeout(() => { ts.close(); ts.blur(); }, 0);
      ts.on("item_add", () => {
        chosen = true;
        done(); // after Tom Select's own handling of the click (which may refocus it)
      });
      ts.on("dropdown_open", () => { if (chosen) done(); });
      const reopen = () => { chosen = false; };
      ts.control_input.addEventListener("keydown", reopen);
      ts.control.addEventListener("mousedown", reopen);
    }
    for (const select of root.querySelectorAll("select[data-autosubmit]")) {
      select.addEventListener("change", () => {
        if (select.value && select.form) select.form.requestSubmit();
      });
    }
  });
})();
