// The object manager: an API name the admin typed is kept (the server stops
// suggesting one), the name field's format shows for an auto number only,
// and picklist values are added, removed and dragged into order in place
// (without this script the same buttons ask the server).
(function () {
  "use strict";

  document.addEventListener("input", (event) => {
    const input = event.target;
    if (!input.matches || !input.matches("[data-api-name]")) return;
    const touched = input.parentElement.querySelector("[data-api-name-touched]");
    if (touched) touched.value = input.value ? "1" : "0";
  });

  function paint(swatch, color) {
    swatch.style.backgroundColor = color || "transparent";
    swatch.classList.toggle("pv-swatch-empty", !color);
  }

  let added = 0;

  metacrm.behaviour((root) => {
    for (const select of root.querySelectorAll("[data-name-type]")) {
      const form = select.closest("form");
      const update = () => {
        for (const part of form.querySelectorAll("[data-shown-for]")) {
          part.classList.toggle("d-none", part.dataset.shownFor !== select.value);
        }
      };
      select.addEventListener("change", update);
      update();
    }

    for (const swatch of root.querySelectorAll(".pv-swatch")) paint(swatch, swatch.dataset.color);

    for (const list of root.querySelectorAll("[data-pv-list]")) {
      if (list.dataset.ready) continue;
      list.dataset.ready = "1";
      const editor = list.closest(".pv-editor");
      const template = editor.querySelector("[data-pv-template]");
      if (window.Sortable) {
        window.Sortable.create(list, { handle: ".pv-handle", animation: 150 });
      }
      editor.addEventListener("click", (event) => {
        const add = event.target.closest("[data-pv-add]");
        const remove = event.target.closest("[data-pv-remove]");
        if (add && template) {
          event.preventDefault();
          added += 1;
          const html = template.innerHTML.replaceAll("__i__", "n" + added);
          list.insertAdjacentHTML("beforeend", html);
          const row = list.lastElementChild;
          for (const swatch of row.querySelectorAll(".pv-swatch")) paint(swatch, "");
          const first = row.querySelector("input");
          if (first) first.focus();
        } else if (remove) {
          event.preventDefault();
          remove.closest(".pv-row").remove();
        } else if (event.target.closest("[data-pv-move]")) {
          // Move up / Move down in place; the focus stays on the same button of the moved row.
          event.preventDefault();
          const button = event.target.closest("[data-pv-move]");
          const row = button.closest(".pv-row");
          const direction = button.dataset.pvMove;
          const other = direction === "up" ? row.previousElementSibling : row.nextElementSibling;
          if (!other) return;
          if (direction === "up") other.before(row);
          else other.after(row);
          row.querySelector(`[data-pv-move="${direction}"]`)?.focus();
        }
      });
      editor.addEventListener("change", (event) => {
        if (!event.target.matches("[data-pv-color]")) return;
        const swatch = event.target.parentElement.querySelector(".pv-swatch");
        if (swatch) paint(swatch, event.target.value);
      });
    }
  });
})();
