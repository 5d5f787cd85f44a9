/* Charts (ECharts, vendored) under the strict CSP: every
 * <div data-chart='{"series": …}'> (options as JSON in the attribute) or
 * <div data-chart-src="/url/returning/options.json"> is drawn when the page
 * loads and whenever htmx swaps new content in. No inline script: the
 * options travel as data. A data point carrying a "url" (a same-site path)
 * opens the records behind it on click. Charts follow the window's size.
 * Tooltips are drawn inside the chart (renderMode "richText"): ECharts'
 * HTML tooltips write style="" attributes, which the CSP refuses.
 */
(function () {
  "use strict";

  var charts = [];

  function sameSitePath(url) {
    return typeof url === "string" && url.charAt(0) === "/" && url.charAt(1) !== "/" && url.charAt(1) !== "\\";
  }

  function withSafeDefaults(options) {
    options = options || {};
    var tooltips = options.tooltip;
    if (Array.isArray(tooltips)) {
      tooltips.forEach(function (t) { t.renderMode = "richText"; });
    } else {
      options.tooltip = Object.assign({ trigger: "item" }, tooltips || {}, { renderMode: "richText" });
    }
    options.aria = Object.assign({ enabled: true }, options.aria || {});
    if (options.animation === undefined && window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches) {
      options.animation = false;
    }
    return options;
  }

  function linkOf(params) {
    var data = params && params.data;
    if (data && typeof data === "object" && !Array.isArray(data) && sameSitePath(data.url)) {
      return data.url;
    }
    return null;
  }

  function draw(element, options) {
    if (!window.echarts) {
      return;
    }
    var chart = window.echarts.getInstanceByDom(element) || window.echarts.init(element, null, { renderer: "canvas" });
    chart.setOption(withSafeDefaults(options), true);
    chart.off("click");
    chart.on("click", function (params) {
      var url = linkOf(params);
      if (url) {
        window.location.assign(url);
      }
    });
    element.setAttribute("data-chart-ready", "true");
    if (charts.indexOf(chart) < 0) {
      charts.push(chart);
    }
  }

  function fail(element, message) {
    element.setAttribute("data-chart-ready", "error");
    var note = document.createElement("p");
    note.className = "chart-error text-body-secondary small";
    note.textContent = element.getAttribute("data-chart-error") || message;
    element.replaceChildren(note);
  }

  function drawElement(element) {
    if (element.getAttribute("data-chart-ready") === "true") {
      return;
    }
    var inline = element.getAttribute("data-chart");
    var source = element.getAttribute("data-chart-src");
    if (inline) {
      try {
        draw(element, JSON.parse(inline));
      } catch (error) {
        fail(element, "The chart could not be drawn.");
      }
    } else if (source && sameSitePath(source)) {
      fetch(source, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (response) {
          if (!response.ok) {
            throw new Error(String(response.status));
          }
          return response.json();
        })
        .then(function (options) { draw(element, options); })
        .catch(function () { fail(element, "The chart could not be loaded."); });
    }
  }

  function drawAll(root) {
    var scope = root && root.querySelectorAll ? root : document;
    if (scope.matches && scope.matches("[data-chart], [data-chart-src]")) {
      drawElement(scope);
    }
    scope.querySelectorAll("[data-chart], [data-chart-src]").forEach(drawElement);
  }

  function forget(root) {
    if (!window.echarts || !root || !root.querySelectorAll) {
      return;
    }
    root.querySelectorAll("[data-chart-ready]").forEach(function (element) {
      var chart = window.echarts.getInstanceByDom(element);
      if (chart) {
        charts.splice(charts.indexOf(chart), 1);
        chart.dispose();
      }
    });
  }

  var pending = null;
  function resizeAll() {
    if (pending) {
      window.clearTimeout(pending);
    }
    pending = window.setTimeout(function () {
      pending = null;
      charts.forEach(function (chart) {
        if (!chart.isDisposed()) {
          chart.resize();
        }
      });
    }, 100);
  }

  window.addEventListener("resize", resizeAll);
  document.addEventListener("htmx:beforeSwap", function (event) { forget(event.detail && event.detail.target); });
  document.addEventListener("htmx:load", function (event) { drawAll(event.detail && event.detail.elt); });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { drawAll(document); });
  } else {
    drawAll(document);
  }
  window.metacrmCharts = { drawAll: drawAll, resizeAll: resizeAll };
})();
