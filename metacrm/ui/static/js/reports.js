// The report builder (metacrm/ui/templates/reports/builder.html): show the parts of the
// form the chosen type uses, reload the form for another object (its fields differ),
// and confirm a report's deletion. The live preview and the filter check are htmx's.
(() => {
  "use strict";

  function showParts(form) {
    const checked = form.querySelector("input[name=type]:checked");
    const type = checked ? checked.value : "summary";
    form.querySelectorAll(".report-part").forEach((part) => {
      const types = (part.dataset.types || "").split(" ");
      part.hidden = !types.includes(type);
    });
  }

  function attach() {
    const form = document.getElementById("report-form");
    if (form) {
      showParts(form);
      form.querySelectorAll("input[name=type]").forEach((radio) => {
        radio.addEventListener("change", () => showParts(form));
      });
      const object = document.getElementById("f-object");
      if (object) {
        object.addEventListener("change", () => {
          const url = new URL(form.dataset.reload, window.location.href);
          url.searchParams.set("object", object.value);
          const type = form.querySelector("input[name=type]:checked");
          if (type) url.searchParams.set("type", type.value);
          window.location.assign(url.toString());
        });
      }
    }
    document.querySelectorAll(".report-delete button[data-confirm]").forEach((button) => {
      button.addEventListener("click", (event) => {
        if (!window.confirm(button.dataset.confirm)) event.preventDefault();
      });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", attach);
  } else {
    attach();
  }
})();
