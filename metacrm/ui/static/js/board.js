// The kanban board (templates/board): SortableJS moves cards between
// columns; each move is saved by the server through the record store. A
// refusal puts the card back where it was, with the reason in it; a
// success re-reads the board (counts and sums) through htmx.
(function () {
  "use strict";

  window.metacrm.behaviour((root) => {
    if (!window.Sortable) return;
    for (const list of root.querySelectorAll("[data-board-cards]")) {
      if (list.dataset.sortableReady) continue;
      list.dataset.sortableReady = "1";
      window.Sortable.create(list, { group: "board", animation: 150, onEnd: moved });
    }
  });

  // The keyboard's way to move a card (drag and drop needs a pointer):
  // left and right arrows move the focused card to the next column.
  document.addEventListener("keydown", (event) => {
    const card = event.target.closest?.("[data-board-cards] > .board-card");
    if (!card || (event.key !== "ArrowLeft" && event.key !== "ArrowRight")) return;
    const from = card.parentElement;
    const lists = [...document.querySelectorAll("[data-board-cards]")];
    const to = lists[lists.indexOf(from) + (event.key === "ArrowRight" ? 1 : -1)];
    if (!to) return;
    event.preventDefault();
    const oldIndex = [...from.children].indexOf(card);
    to.prepend(card);
    card.focus();
    moved({ from, to, item: card, oldIndex });
  });

  function fragment(html) {
    const template = document.createElement("template");
    template.innerHTML = html.trim();
    return template.content.firstElementChild;
  }

  async function moved(event) {
    if (event.from === event.to) return;
    const card = event.item;
    const board = card.closest("[data-board]");
    const body = new FormData();
    body.append("id", card.dataset.recordId);
    body.append("version", card.dataset.version);
    body.append("value", event.to.dataset.value);
    const token = document.querySelector('meta[name="csrf-token"]').content;
    let response;
    try {
      response = await fetch(board.dataset.moveUrl + window.location.search, {
        method: "POST",
        body,
        headers: { "X-CSRFToken": token },
        credentials: "same-origin",
      });
    } catch (error) {
      event.from.insertBefore(card, event.from.children[event.oldIndex] || null);
      return;
    }
    const answer = fragment(await response.text());
    if (response.ok) {
      card.replaceWith(answer);
      answer.focus();
      window.htmx.ajax("GET", window.location.href, { target: "#board", swap: "outerHTML" });
      return;
    }
    // Refused: back to where it was, with the reason in the card.
    event.from.insertBefore(card, event.from.children[event.oldIndex] || null);
    if (answer && answer.matches(".board-card")) {
      card.replaceWith(answer);
      answer.focus();
      const reason = answer.querySelector('[role="alert"]');
      if (reason) window.metacrm.toast(board.dataset.refused.replace("{reason}", reason.textContent));
    }
  }
})();
