// The layout editor (templates/setup/layouts): sections, fields and related
// lists move by drag and drop (SortableJS) or by their buttons, here in the
// page (the same moves the server makes for a post without JavaScript);
// every change asks the server for a new preview ("layout-changed"). The
// conditions dialog edits a field's visible / required / read-only rules,
// which the rule editor checks on the server as the admin types.
(function () {
  "use strict";

  let editing = null; // the field item whose conditions the dialog shows
  let fresh = 0;

  function changed() {
    document.body.dispatchEvent(new CustomEvent("layout-changed"));
  }

  function sortable(list) {
    if (!window.Sortable || list.dataset.sortableReady) return;
    list.dataset.sortableReady = "1";
    const kind = list.dataset.sortable;
    window.Sortable.create(list, {
      group: kind,
      animation: 150,
      handle: kind === "sections" ? ".layout-section-handle" : ".layout-item",
      filter: "button, input, select, textarea, label, code",
      preventOnFilter: false,
      draggable: kind === "sections" ? ".layout-section" : ".layout-item",
      onEnd: changed,
    });
  }

  function siblings(item) {
    return [...item.parentElement.children].filter((el) => el.matches("[data-item]"));
  }

  function move(item, step) {
    const all = siblings(item);
    const at = all.indexOf(item);
    const other = all[at + step];
    if (other) {
      other.insertAdjacentElement(step < 0 ? "beforebegin" : "afterend", item);
    } else if (item.matches(".layout-field")) {
      // Over the edge of a section: into the previous or the next one.
      const sections = [...document.querySelectorAll(".layout-sections > .layout-section")];
      const here = item.closest(".layout-section");
      const next = sections[sections.indexOf(here) + step];
      if (!next) return false;
      const list = next.querySelector(".layout-fields");
      if (step < 0) list.append(item);
      else list.prepend(item);
    } else {
      return false;
    }
    return true;
  }

  function place(item) {
    if (item.matches(".layout-field")) {
      let sections = document.querySelectorAll(".layout-sections > .layout-section");
      if (!sections.length) addSection();
      sections = document.querySelectorAll(".layout-sections > .layout-section");
      sections[sections.length - 1].querySelector(".layout-fields").append(item);
    } else {
      document.querySelector(".layout-related[data-sortable]:not(.layout-palette)").append(item);
    }
  }

  function unplace(item) {
    const palettes = document.querySelectorAll(".layout-palette");
    const palette = item.matches(".layout-field") ? palettes[0] : palettes[1];
    palette.append(item);
  }

  function addSection() {
    const template = document.getElementById("layout-section-template");
    const key = "n" + Date.now().toString(36) + (fresh++);
    const html = template.innerHTML.replaceAll("__KEY__", key);
    const holder = document.createElement("template");
    holder.innerHTML = html.trim();
    const section = holder.content.firstElementChild;
    const title = document.getElementById("layout-form").dataset.newSection;
    section.querySelector("[data-section-label]").value = title;
    section.querySelector("[data-section-title]").textContent = title;
    document.querySelector(".layout-sections").append(section);
    for (const list of section.querySelectorAll("[data-sortable]")) sortable(list);
    if (window.htmx) window.htmx.process(section);
    return section;
  }

  function removeSection(section) {
    for (const item of [...section.querySelectorAll(".layout-field")]) unplace(item);
    section.remove();
  }

  function act(button) {
    const item = button.closest("[data-item]");
    const what = button.dataset.move;
    if (what === "add-section") {
      const section = addSection();
      section.querySelector("[data-section-label]").focus();
    } else if (what === "up" || what === "down") {
      if (move(item, what === "up" ? -1 : 1)) {
        const again = item.querySelector(`[data-move="${what}"]`);
        (again || button).focus();
      }
    } else if (what === "remove-section") {
      removeSection(item);
    } else if (what === "remove") {
      unplace(item);
      item.querySelector('[data-move="place"]')?.focus();
    } else if (what === "place") {
      place(item);
      item.querySelector('[data-move="up"]')?.focus();
    }
    changed();
  }

  // -- the conditions dialog ---------------------------------------------------------------------

  function openConditions(item) {
    editing = item;
    const dialog = document.getElementById("conditions-dialog");
    dialog.querySelector("[data-conditions-of]").textContent = item.dataset.label;
    for (const hidden of item.querySelectorAll(":scope > input[data-rule]")) {
      const editor = document.getElementById("condition-" + hidden.dataset.rule);
      editor.value = hidden.value;
      editor.dispatchEvent(new Event("input", { bubbles: true }));
    }
    window.bootstrap.Modal.getOrCreateInstance(dialog).show();
  }

  function applyConditions() {
    if (!editing) return;
    const summary = editing.querySelector(":scope > [data-rule-summary], :scope > .card-body > [data-rule-summary]");
    summary.replaceChildren();
    for (const hidden of editing.querySelectorAll(":scope > input[data-rule]")) {
      const editor = document.getElementById("condition-" + hidden.dataset.rule);
      hidden.value = editor.value.trim();
      if (!hidden.value) continue;
      const line = document.createElement("li");
      const label = document.createElement("span");
      label.className = "text-body-secondary";
      label.textContent = editor.labels[0].textContent.trim() + " ";
      const code = document.createElement("code");
      code.textContent = hidden.value;
      line.append(label, code);
      summary.append(line);
    }
    const dialog = document.getElementById("conditions-dialog");
    window.bootstrap.Modal.getOrCreateInstance(dialog).hide();
    editing.querySelector("[data-conditions]")?.focus();
    changed();
  }

  window.metacrm.behaviour((root) => {
    for (const list of root.querySelectorAll("[data-sortable]")) sortable(list);
  });

  document.addEventListener("click", (event) => {
    const mover = event.target.closest?.("#layout-form [data-move], .list-view-editor [data-move]");
    if (mover) {
      event.preventDefault();
      act(mover);
      return;
    }
    const conditions = event.target.closest?.("#layout-form [data-conditions]");
    if (conditions) {
      openConditions(conditions.closest("[data-item]"));
      return;
    }
    if (event.target.closest?.("[data-conditions-apply]")) applyConditions();
  });

  // A section's title follows what is typed; a new list view's api name
  // is suggested from its name until the admin types one.
  document.addEventListener("input", (event) => {
    if (event.target.matches?.("[data-api-name]")) event.target.dataset.typed = "1";
    if (event.target.matches?.("[data-suggest-api-name]")) {
      const target = document.querySelector("[data-api-name]");
      if (target && !target.dataset.typed) {
        const name = event.target.value.toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^[^a-z]+|_+$/g, "");
        target.value = name.slice(0, 63);
      }
    }
    if (event.target.matches?.('.layout-section select[name$=".columns"]')) {
      const list = event.target.closest(".layout-section").querySelector(".layout-fields");
      list.classList.remove("layout-cols-1", "layout-cols-2", "layout-cols-3");
      list.classList.add("layout-cols-" + event.target.value);
    }
    if (!event.target.matches?.("[data-section-label]")) return;
    const section = event.target.closest(".layout-section");
    const title = section.querySelector("[data-section-title]");
    title.textContent = event.target.value || title.textContent;
    section.dataset.label = event.target.value;
  });
})();
