// Apps and navigation (templates/setup/apps): lists whose order is what
// the form posts. SortableJS drags an item by its handle; the arrow
// buttons move it without a pointer. The form's hidden inputs and
// checkboxes travel with their item, so the posted order is the DOM order.
// A new app's api name is suggested from its label until typed by hand.
(function () {
  "use strict";

  function move(item, direction) {
    const sibling = direction === "up" ? item.previousElementSibling : item.nextElementSibling;
    if (!sibling) return;
    if (direction === "up") sibling.before(item);
    else sibling.after(item);
    item.querySelector(`[data-move="${direction}"]`)?.focus();
  }

  function suggestion(label) {
    const name = label
      .normalize("NFKD")
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, "_")
      .replace(/^[^a-z]+/, "")
      .replace(/_+$/, "")
      .slice(0, 63);
    return name;
  }

  window.metacrm.behaviour((root) => {
    for (const list of root.querySelectorAll("[data-sortable]")) {
      if (list.dataset.sortableReady) continue;
      list.dataset.sortableReady = "1";
      if (window.Sortable) {
        window.Sortable.create(list, { animation: 150, handle: ".drag-handle", draggable: "li" });
      }
      list.addEventListener("click", (event) => {
        const button = event.target.closest("[data-move]");
        if (!button) return;
        move(button.closest("li"), button.dataset.move);
      });
    }
    for (const label of root.querySelectorAll("[data-suggest-api-name]")) {
      const target = document.getElementById(label.dataset.suggestApiName);
      if (!target) continue;
      let typed = target.value !== "";
      target.addEventListener("input", () => {
        typed = target.value !== "";
      });
      label.addEventListener("input", () => {
        if (!typed) target.value = suggestion(label.value);
      });
    }
  });
})();
