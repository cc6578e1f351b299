// Small behaviours the pages share, with no inline script (the CSP allows only our files):
// copy buttons, uPlot charts from <script type="application/json"> data, and focus after an
// htmx swap so keyboard and screen-reader users land on what changed.
(function () {
  "use strict";

  function copyButtons(root) {
    root.querySelectorAll("[data-copy]").forEach(function (button) {
      if (button.dataset.bound) return;
      button.dataset.bound = "1";
      button.addEventListener("click", function () {
        var field = document.getElementById(button.dataset.copy);
        if (!field) return;
        field.select();
        var done = function () {
          button.textContent = "Copied";
          setTimeout(function () { button.textContent = "Copy"; }, 2000);
        };
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(field.value).then(done, function () { document.execCommand("copy"); done(); });
        } else {
          document.execCommand("copy");
          done();
        }
      });
    });
  }

  // <div class="chart" data-chart="id-of-json"></div> with JSON
  // {"x": [unix seconds…], "series": [{"label": "Calls", "values": […], "dash": false}], "title": "…"}
  function charts(root) {
    if (typeof uPlot === "undefined") return;
    var palette = ["#1d4ed8", "#b91c1c", "#15803d", "#8a4b00", "#6d28d9"];
    root.querySelectorAll("[data-chart]").forEach(function (holder) {
      if (holder.dataset.bound) return;
      holder.dataset.bound = "1";
      var source = document.getElementById(holder.dataset.chart);
      if (!source) return;
      var data = JSON.parse(source.textContent);
      var series = [{}];
      var columns = [data.x];
      data.series.forEach(function (s, i) {
        series.push({ label: s.label, stroke: palette[i % palette.length], width: 2, dash: s.dash ? [6, 4] : undefined });
        columns.push(s.values);
      });
      var width = Math.max(holder.clientWidth, 280);
      new uPlot({ title: data.title, width: width, height: 240, series: series, axes: [{}, {}] }, columns, holder);
    });
  }

  // A form marked data-submit-once goes once: a second click while the answer is on its way
  // would save twice (a connection added twice). Back on the page, it can be sent again.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute("data-submit-once")) return;
    if (form.dataset.sent) { event.preventDefault(); return; }
    form.dataset.sent = "1";
  });
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form[data-submit-once]").forEach(function (form) {
      delete form.dataset.sent;
    });
  });

  // A button that updates part of the page when the server does not answer at all (it is
  // down, or the network is): say so where its answer would have appeared.
  document.addEventListener("htmx:sendError", function (event) {
    var target = event.detail.target;
    if (!target) return;
    var message = document.createElement("p");
    message.className = "error";
    message.setAttribute("role", "alert");
    message.textContent = "The server did not answer: check that it is running and your network, then try again.";
    target.replaceChildren(message);
  });

  function bind(root) { copyButtons(root); charts(root); }

  document.addEventListener("DOMContentLoaded", function () { bind(document); });
  document.addEventListener("htmx:afterSettle", function (event) {
    bind(event.target);
    var focus = event.target.querySelector("[data-focus]");
    if (focus) focus.focus();
  });
})();
