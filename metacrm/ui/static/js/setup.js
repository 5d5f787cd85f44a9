// Setup screens: the rule editor's "fields you can use" insert the name at
// the cursor (and the server checks the text again), and the setup menu on
// a phone closes after a choice.
(function () {
  "use strict";
  metacrm.behaviour((root) => {
    for (const button of root.querySelectorAll("[data-insert]")) {
      button.addEventListener("click", () => {
        const editor = document.getElementById(button.dataset.target);
        if (!editor) return;
        const start = editor.selectionStart ?? editor.value.length;
        const end = editor.selectionEnd ?? start;
        const text = button.dataset.insert;
        editor.value = editor.value.slice(0, start) + text + editor.value.slice(end);
        editor.focus();
        editor.setSelectionRange(start + text.length, start + text.length);
        editor.dispatchEvent(new Event("input", { bubbles: true }));
      });
    }
  });
})();
