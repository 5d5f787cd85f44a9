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
