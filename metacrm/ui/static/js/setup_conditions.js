// The permission matrix (h5): a scope select set to "Condition" shows its
// rule-language editor; any other scope hides it (the text is then ignored).
(function () {
  "use strict";
  function sync(select) {
    var editor = document.querySelector('[data-condition-for="' + select.id + '"]');
    if (!editor) return;
    var on = select.value === "condition";
    editor.hidden = !on;
    if (on && document.activeElement === select) {
      var area = editor.querySelector("textarea");
      if (area && !area.value) area.focus();
    }
  }
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target instanceof HTMLSelectElement && target.closest(".perm-cell")) sync(target);
  });
})();

// The sharing rule form (h5): "Based on record owner" shows the owner choice,
// "Based on criteria" the condition editor (without this script both show).
(function () {
  "use strict";
  function syncKind(form) {
    var chosen = form.querySelector('input[name="kind"]:checked');
    if (!chosen) return;
    var owner = form.querySelector(".sharing-rule-owner");
    var criteria = form.querySelector(".sharing-rule-criteria");
    if (owner) owner.hidden = chosen.value !== "owner";
    if (criteria) criteria.hidden = chosen.value !== "criteria";
  }
  document.addEventListener("change", function (event) {
    var form = event.target.closest && event.target.closest(".sharing-rule-form");
    if (form && event.target.name === "kind") syncKind(form);
  });
  function start() {
    document.querySelectorAll(".sharing-rule-form").forEach(syncKind);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
