// h2: the list page's "Export" links follow the list's current URL (filters,
// search, sort, columns change it through htmx's hx-push-url).
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[data-export-link]");
    if (!link) return;
    var params = new URLSearchParams(window.location.search);
    params.delete("cursor");
    params.delete("format");
    var url = new URL(link.href, window.location.href);
    var query = "format=" + encodeURIComponent(link.dataset.format) + (params.toString() ? "&" + params.toString() : "");
    link.href = url.pathname + "?" + query;
  });
})();
