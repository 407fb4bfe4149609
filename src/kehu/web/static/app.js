/* Kehu web app: draws the page charts from the JSON block the page carries (no inline script). */
(function () {
  "use strict";
  function draw() {
    var block = document.getElementById("chart-data");
    if (!block || !window.echarts) { return; }
    var data = JSON.parse(block.textContent);
    var nodes = document.querySelectorAll("[data-chart]");
    var charts = [];
    nodes.forEach(function (node) {
      var spec = data[node.getAttribute("data-chart")];
      if (!spec) { return; }
      var chart = window.echarts.init(node, null, { renderer: "canvas" });
      var option;
      var kind = spec.kind || node.getAttribute("data-chart");
      if (kind === "trend") {
        option = {
          tooltip: { trigger: "axis" }, legend: { data: spec.names, type: "scroll" }, grid: { top: 50 },
          xAxis: { type: "category", data: spec.months }, yAxis: { type: "value" },
          series: spec.names.map(function (name, i) { return { name: name, type: "line", data: spec.series[i] }; })
        };
      } else if (kind === "sankey") {
        option = {
          tooltip: { trigger: "item" },
          series: [{
            type: "sankey", emphasis: { focus: "adjacency" }, nodeAlign: "justify", layoutIterations: 32,
            data: spec.nodes.map(function (name) { return { name: name }; }), links: spec.links,
            lineStyle: { color: "source", opacity: 0.35 }, label: { fontSize: 11 }
          }]
        };
      } else if (kind === "heatmap") {
        option = {
          tooltip: { position: "top", formatter: function (p) { return spec.y[p.value[1]] + " · " + spec.x[p.value[0]] + ": " + (100 * p.value[2]).toFixed(1) + "%"; } },
          grid: { left: 90, top: 10, bottom: 60 },
          xAxis: { type: "category", data: spec.x, splitArea: { show: true } },
          yAxis: { type: "category", data: spec.y, splitArea: { show: true } },
          visualMap: { min: 0, max: 1, calculable: true, orient: "horizontal", left: "center", bottom: 0, inRange: { color: ["#fdf2f0", "#c0392b"] } },
          series: [{ name: spec.series[0], type: "heatmap", data: spec.cells, label: { show: true, fontSize: 10, formatter: function (p) { return Math.round(100 * p.value[2]); } } }]
        };
      } else if (kind === "pie") {
        option = {
          tooltip: { trigger: "item" }, legend: { type: "scroll", orient: "vertical", right: 0, top: 10 },
          series: [{ name: spec.series[0], type: "pie", radius: ["35%", "70%"], center: ["35%", "50%"],
                     data: spec.names.map(function (n, i) { return { name: n, value: spec.values[i] }; }) }]
        };
      } else if (kind === "funnel") {
        option = {
          tooltip: { trigger: "item" },
          series: [{ name: spec.series[0], type: "funnel", sort: "none", left: "10%", width: "80%", label: { formatter: "{b}: {c}" },
                     data: spec.names.map(function (n, i) { return { name: n, value: spec.values[i] }; }) }]
        };
      } else if (kind === "pareto") {
        option = {
          tooltip: { trigger: "axis" }, xAxis: { type: "category", data: spec.months, boundaryGap: false },
          yAxis: { type: "value", max: 100, axisLabel: { formatter: "{value}%" } },
          series: [{ name: spec.series[0], type: "line", data: spec.values, areaStyle: {}, showSymbol: false,
                     markLine: { symbol: "none", data: [{ xAxis: "20%" }] } }]
        };
      } else if (kind === "bars") {
        option = {
          tooltip: { trigger: "axis" }, xAxis: { type: "category", data: spec.names }, yAxis: { type: "value" },
          series: [{ name: spec.series[0], type: "bar", data: spec.values, itemStyle: { color: "#c0392b" } }]
        };
      } else if (kind === "revenue") {
        option = {
          tooltip: { trigger: "axis" }, legend: { data: spec.series },
          xAxis: { type: "category", data: spec.months },
          yAxis: [{ type: "value", name: spec.series[0] }, { type: "value", name: spec.series[1] }],
          series: [
            { name: spec.series[0], type: "bar", data: spec.values, itemStyle: { color: "#c0392b" } },
            { name: spec.series[1], type: "line", yAxisIndex: 1, data: spec.orders, smooth: true }
          ]
        };
      } else if (kind === "regions") {
        option = {
          tooltip: { trigger: "axis" }, grid: { left: 110 },
          xAxis: { type: "value" }, yAxis: { type: "category", data: spec.names.slice().reverse() },
          series: [{ name: spec.series[0], type: "bar", data: spec.values.slice().reverse(), itemStyle: { color: "#1d5fa8" } }]
        };
      } else if (kind === "interval") {
        /* campaign uplift: the point difference and its 95% interval per outcome, with the zero line */
        option = {
          tooltip: { trigger: "item", formatter: function (p) { var i = p.dataIndex; return spec.names[i] + ": " + spec.values[i] + " (" + spec.lows[i] + " … " + spec.highs[i] + ") " + spec.unit; } },
          grid: { left: 150, right: 30 }, legend: { data: spec.series },
          xAxis: { type: "value", name: spec.unit, nameLocation: "middle", nameGap: 28, scale: true },
          yAxis: { type: "category", data: spec.names, inverse: true },
          series: [
            { name: spec.series[0], type: "scatter", symbolSize: 12, itemStyle: { color: "#c0392b" },
              data: spec.values.map(function (v, i) { return [v, i]; }),
              markLine: { symbol: "none", silent: true, lineStyle: { type: "dashed", color: "#555" }, data: [{ xAxis: 0 }] } },
            { name: spec.series[1], type: "custom", itemStyle: { color: "#1d5fa8" },
              data: spec.names.map(function (n, i) { return [i, spec.lows[i], spec.highs[i]]; }),
              encode: { y: 0, x: [1, 2] },
              renderItem: function (params, api) {
                var lo = api.coord([api.value(1), api.value(0)]), hi = api.coord([api.value(2), api.value(0)]);
                var h = api.size([0, 1])[1] * 0.2, style = { stroke: "#1d5fa8", lineWidth: 2 };
                return { type: "group", children: [
                  { type: "line", shape: { x1: lo[0], y1: lo[1], x2: hi[0], y2: hi[1] }, style: style },
                  { type: "line", shape: { x1: lo[0], y1: lo[1] - h, x2: lo[0], y2: lo[1] + h }, style: style },
                  { type: "line", shape: { x1: hi[0], y1: hi[1] - h, x2: hi[0], y2: hi[1] + h }, style: style }
                ] };
              } }
          ]
        };
      } else if (kind === "arms") {
        option = {
          tooltip: { trigger: "axis" }, legend: { data: spec.series },
          xAxis: { type: "category", data: spec.names }, yAxis: { type: "value", axisLabel: { formatter: "{value}%" } },
          series: [
            { name: spec.series[0], type: "bar", data: spec.values, itemStyle: { color: "#c0392b" } },
            { name: spec.series[1], type: "bar", data: spec.holdout, itemStyle: { color: "#7f8c8d" } }
          ]
        };
      } else {
        option = {
          tooltip: { trigger: "axis" }, xAxis: { type: "category", data: spec.months }, yAxis: { type: "value" },
          series: [{ name: spec.series[0], type: "line", areaStyle: {}, data: spec.values }]
        };
      }
      chart.on("finished", function () { node.setAttribute("data-rendered", String(spec.values.length)); });
      chart.setOption(option);
      charts.push(chart);
    });
    // a resize while ECharts still lays a chart out can throw inside it: that chart is resized again once it
    // has settled (a second failure is a real one and reaches the page's error handler)
    window.addEventListener("resize", function () {
      charts.forEach(function (c) {
        try { c.resize(); } catch (e) { window.setTimeout(function () { c.resize(); }, 300); }
      });
    });
  }
  function localeSwitch() {
    var select = document.getElementById("locale-select");
    if (select) {
      select.addEventListener("change", function () { select.form.submit(); });
    }
  }
  function importProgress() {
    // an import running in the background: follow its JSON twin, reload the page when it has ended
    var box = document.getElementById("import-progress");
    var shown = box && box.getAttribute("data-state");
    if (shown !== "running" && shown !== "queued") { return; }
    var url = "/imports/jobs/" + encodeURIComponent(box.getAttribute("data-job")) + ".json";
    function poll() {
      fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (d) {
          var job = d.job || {};
          if (job.state !== shown) { window.location.reload(); return; }  // queued -> running -> done or failed
          var bar = document.getElementById("import-bar");
          if (bar && job.percent !== null && job.percent !== undefined) { bar.value = job.percent; }
          var rows = document.getElementById("import-rows");
          if (rows) { rows.setAttribute("data-rows", String(job.rows_read)); }
          window.setTimeout(poll, 700);
        })
        .catch(function () { window.setTimeout(poll, 2000); });
    }
    window.setTimeout(poll, 400);
  }
  function refreshProgress() {
    // an analytics run going on: follow the refresh page's JSON twin step by step, reload when it has ended
    var panel = document.getElementById("refresh-panel");
    var url = panel && panel.getAttribute("data-refresh-poll");
    var block = document.getElementById("refresh-labels");
    if (!url || !block) { return; }
    var labels = JSON.parse(block.textContent);
    function fill(text, values) {
      return text.replace(/\{(\w+)\}/g, function (m, k) { return values[k] !== undefined ? String(values[k]) : m; });
    }
    function poll() {
      fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
        .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); })
        .then(function (d) {
          var run = d.run || {};
          if (run.status !== "running") { window.location.reload(); return; }
          var bar = document.getElementById("refresh-bar");
          if (bar) { bar.value = run.steps_done; }
          var count = document.getElementById("refresh-count");
          if (count) { count.textContent = fill(labels.steps_done, { done: run.steps_done, total: run.steps_total }); }
          var elapsed = document.getElementById("refresh-elapsed");
          if (elapsed) { elapsed.textContent = fill(labels.elapsed, { n: run.seconds.toFixed(1) }); }
          (run.steps || []).forEach(function (s) {
            var li = document.querySelector('#refresh-steps li[data-step="' + s.step + '"]');
            if (!li) { return; }
            li.className = "step-" + s.state;
            li.querySelector(".state").textContent = labels.states[s.state] || s.state;
            li.querySelector(".secs").textContent = s.seconds === null ? "" : fill(labels.seconds, { n: s.seconds.toFixed(1) });
          });
          window.setTimeout(poll, 1000);
        })
        .catch(function () { window.setTimeout(poll, 3000); });
    }
    window.setTimeout(poll, 500);
  }
  function start() { draw(); localeSwitch(); importProgress(); refreshProgress(); }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
