// Record forms: lookup fields become typeaheads (Tom Select, vendored) that
// search the target object through /o/<object>/lookup?q= with the user's
// guard; rich-text fields get a small editor (bold, italic, lists, links). Conditions and default values are not evaluated here: the form's
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

  // -- rich text ---------------------------------------------------------------------------
  // The widget (widgets/rich_text.html) renders a toolbar and a contenteditable
  // box (hidden) beside the textarea the form posts. Here the box replaces the
  // textarea: every edit writes the box's HTML into it (the server sanitises
  // it, as any value of a rich_text field). execCommand does the formatting
  // (<b>, <i>, lists, links: no style attributes); pasting inserts plain text.
  const ALLOWED = new Set(["P", "BR", "B", "STRONG", "I", "EM", "U", "S", "A", "UL", "OL", "LI", "H1", "H2", "H3", "H4", "BLOCKQUOTE", "CODE", "PRE", "SPAN", "DIV"]);

  // What goes into the textarea: only the tags the server keeps, links with
  // their address only (the server checks the scheme again).
  function cleanHtml(box) {
    const copy = document.createElement("template");
    copy.innerHTML = box.innerHTML; // inert: a template's content runs nothing
    const walk = (node) => {
      for (const child of Array.from(node.childNodes)) {
        if (child.nodeType === Node.ELEMENT_NODE) {
          if (!ALLOWED.has(child.tagName)) {
            child.replaceWith(...child.childNodes);
            walk(node);
            return;
          }
          for (const attr of Array.from(child.attributes)) {
            if (!(child.tagName === "A" && attr.name === "href")) child.removeAttribute(attr.name);
          }
          walk(child);
        } else if (child.nodeType !== Node.TEXT_NODE) {
          child.remove();
        }
      }
    };
    walk(copy.content);
    const html = copy.innerHTML.trim();
    return html === "<br>" || html === "<p><br></p>" || html === "<div><br></div>" ? "" : html;
  }

  function richText(textarea) {
    const editor = textarea.parentElement.querySelector(`[data-rich-text-for="${textarea.id}"]`);
    if (!editor || editor.dataset.ready) return;
    editor.dataset.ready = "1";
    const box = editor.querySelector(".rich-text-box");
    const linkRow = editor.querySelector(".rich-text-link");
    const href = linkRow.querySelector("input");
    const linkButton = editor.querySelector("[data-command='link']");
    let saved = null; // the selection in the box while the link row has the focus

    editor.hidden = false;
    textarea.hidden = true;
    textarea.tabIndex = -1;
    textarea.required = false; // a hidden control cannot take the focus the browser's check gives it; the server checks
    // The label names the box now; a click on it puts the caret there.
    const label = document.getElementById(`${textarea.id}-label`);
    if (label) label.addEventListener("click", (event) => { event.preventDefault(); box.focus(); });

    const sync = (kind) => {
      textarea.value = cleanHtml(box);
      textarea.dispatchEvent(new Event(kind, { bubbles: true }));
    };
    const refresh = () => {
      for (const button of editor.querySelectorAll("[aria-pressed]")) {
        let on = false;
        try { on = document.queryCommandState(button.dataset.command); } catch (e) { on = false; }
        button.setAttribute("aria-pressed", on && box.contains(document.getSelection().anchorNode) ? "true" : "false");
      }
    };
    const command = (name, value) => {
      box.focus();
      document.execCommand(name, false, value);
      sync("input");
      refresh();
    };
    const closeLink = () => {
      linkRow.hidden = true;
      linkButton.setAttribute("aria-expanded", "false");
    };
    const applyLink = () => {
      const url = href.value.trim();
      closeLink();
      box.focus();
      if (saved) {
        const selection = document.getSelection();
        selection.removeAllRanges();
        selection.addRange(saved);
      }
      if (!url) return;
      if (saved && !saved.collapsed) {
        command("createLink", url);
      } else {
        const link = document.createElement("a"); // no selection: the address becomes the link's text
        link.href = url;
        link.textContent = url;
        command("insertHTML", link.outerHTML);
      }
    };

    editor.querySelector(".rich-text-toolbar").addEventListener("click", (event) => {
      const button = event.target.closest("button[data-command]");
      if (!button) return;
      const name = button.dataset.command;
      if (name === "link") {
        const selection = document.getSelection();
        saved = selection.rangeCount && box.contains(selection.anchorNode) ? selection.getRangeAt(0).cloneRange() : null;
        const open = linkRow.hidden;
        linkRow.hidden = !open;
        button.setAttribute("aria-expanded", open ? "true" : "false");
        if (open) {
          const current = saved && saved.startContainer.parentElement && saved.startContainer.parentElement.closest("a");
          href.value = current ? current.getAttribute("href") : "";
          href.focus();
        }
        return;
      }
      command(name);
    });
    linkRow.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-command]");
      if (!button) return;
      if (button.dataset.command === "apply-link") applyLink();
      else { closeLink(); box.focus(); }
    });
    // Typing an address is not editing the record (no live round trip); Enter adds the link, Escape cancels.
    href.addEventListener("input", (event) => event.stopPropagation());
    href.addEventListener("keydown", (event) => {
      if (event.key === "Enter") { event.preventDefault(); applyLink(); }
      if (event.key === "Escape") { event.preventDefault(); closeLink(); box.focus(); }
    });

    box.addEventListener("input", (event) => { event.stopPropagation(); sync("input"); });
    box.addEventListener("blur", () => sync("change"));
    box.addEventListener("keyup", refresh);
    box.addEventListener("mouseup", refresh);
    box.addEventListener("paste", (event) => {
      event.preventDefault();
      const text = (event.clipboardData || window.clipboardData).getData("text/plain");
      document.execCommand("insertText", false, text);
    });
    // Ctrl/Cmd+K opens the link row, as in most editors.
    box.addEventListener("keydown", (event) => {
      if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "k") {
        event.preventDefault();
        linkButton.click();
      }
    });
  }

  window.metacrm.behaviour((root) => {
    root.querySelectorAll("select[data-lookup]").forEach(typeahead);
    root.querySelectorAll("textarea[data-rich-text]").forEach(richText);
  });
})();
