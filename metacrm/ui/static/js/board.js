// The kanban board (templates/board): SortableJS moves cards between
// columns; each move is saved by the server through the record store. A
// refusal puts the card back where it was, with the reason in it; a
// success re-reads the board (counts and sums) through htmx.
(function () {
  "use strict";

  // The columns scroll sideways inside the board frame (never the page):
  // the frame shows a shadow at an edge with more columns behind it, and
  // the arrow buttons scroll by a column.
  function edges(frame) {
    const board = frame.querySelector("[data-board]");
    if (!board) return;
    const before = board.scrollLeft > 1;
    const after = board.scrollLeft + board.clientWidth < board.scrollWidth - 1;
    frame.classList.toggle("board-more-before", before);
    frame.classList.toggle("board-more-after", after);
    frame.querySelector('[data-board-scroll="-1"]').hidden = !before;
    frame.querySelector('[data-board-scroll="1"]').hidden = !after;
  }

  function allEdges() {
    document.querySelectorAll("[data-board-frame]").forEach(edges);
  }

  document.addEventListener(
    "scroll",
    (event) => {
      const frame = event.target.closest?.("[data-board-frame]");
      if (frame) edges(frame);
    },
    true,
  );
  window.addEventListener("resize", allEdges);

  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-board-scroll]");
    if (!button) return;
    const board = button.closest("[data-board-frame]").querySelector("[data-board]");
    const column = board.querySelector(".board-column");
    const step = column ? column.getBoundingClientRect().width + 12 : board.clientWidth * 0.8;
    board.scrollBy({ left: Number(button.dataset.boardScroll) * step, behavior: "smooth" });
  });

  window.metacrm.behaviour((root) => {
    allEdges();
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
