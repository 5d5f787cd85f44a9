// The record page's own behaviour (templates/records/): small on purpose.
// The stage path scrolls sideways inside its card on a phone: bring the
// current stage into view so the user sees where the record stands.
(function () {
  "use strict";
  window.metacrm.behaviour((root) => {
    for (const current of root.querySelectorAll(".stage-steps [aria-current='step']")) {
      const steps = current.closest(".stage-steps");
      steps.scrollLeft = current.parentElement.offsetLeft - steps.clientWidth / 2 + current.parentElement.clientWidth / 2;
    }
  });
})();
