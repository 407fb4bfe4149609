/* Kehu web app: draws the dashboard charts from the JSON block the page carries (no inline script). */
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
    window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
  }
  function localeSwitch() {
    var select = document.getElementById("locale-select");
    if (select) {
      select.addEventListener("change", function () { select.form.submit(); });
    }
  }
  function start() { draw(); localeSwitch(); }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
