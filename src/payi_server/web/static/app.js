/* Pay-i dashboard: the browser's time zone, charts (uPlot), confirmations. No inline script anywhere (CSP). */
(function () {
  "use strict";

  // 1. Time zone: the server buckets days and shows times in the zone of this cookie.
  var zone = "UTC";
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC"; } catch (e) { /* keep UTC */ }
  var secure = location.protocol === "https:" ? "; secure" : "";
  if (!/^[A-Za-z0-9_+\/-]{1,64}$/.test(zone)) zone = "UTC";
  document.cookie = "payi_tz=" + zone + "; path=/; max-age=31536000; samesite=lax" + secure;
  var shown = document.body.getAttribute("data-tz");
  var explicit = new URLSearchParams(location.search).has("tz");
  if (shown && shown !== zone && !explicit && !sessionStorage.getItem("payi_tz_reloaded")) {
    sessionStorage.setItem("payi_tz_reloaded", "1");  // once: a zone the server does not know must not loop
    location.reload();
    return;
  }

  // 2. Charts: data from <script type="application/json"> blocks next to each .chart element.
  var palette = ["#2563eb", "#16a34a", "#ea580c", "#9333ea", "#0891b2", "#dc2626", "#64748b"];
  window.payiCharts = [];

  // The twin of the server's money(): whole cents from a cent up, two significant digits below.
  function money(v) {
    if (v == null || isNaN(v)) return "";
    var sign = v < 0 ? "-" : "", a = Math.abs(v);
    if (a === 0) return "$0.00";
    if (a >= 0.00995) return sign + "$" + a.toLocaleString("en-US", {minimumFractionDigits: 2, maximumFractionDigits: 2});
    var places = Math.min(20, Math.max(2, 1 - Math.floor(Math.log10(a))));
    return sign + "$" + a.toFixed(places);
  }
  window.payiMoney = money;

  function draw(el) {
    var source = document.getElementById(el.getAttribute("data-chart"));
    if (!source || typeof uPlot === "undefined") return;
    var data = JSON.parse(source.textContent);
    var single = data.series.length === 1;
    var series = [{}];
    var columns = [data.x];
    data.series.forEach(function (s, i) {
      var colour = palette[i % palette.length];
      series.push({
        label: s.label,
        stroke: colour,
        fill: single ? colour + "99" : undefined,
        width: single ? 0 : 2,
        value: function (u, v) { return money(v); },
        paths: single && uPlot.paths && uPlot.paths.bars ? uPlot.paths.bars({size: [0.8, 64]}) : undefined,
        points: {show: !single && data.x.length < 60}
      });
      columns.push(s.values);
    });
    var opts = {
      width: Math.max(320, el.clientWidth || 800),
      height: 260,
      series: series,
      scales: {x: {time: true}},
      axes: [{}, {values: function (u, vals) { return vals.map(money); }, size: 70}],
      legend: {live: true}
    };
    var chart = new uPlot(opts, columns, el);
    el.setAttribute("data-total", String(data.series.reduce(function (sum, s) {
      return sum + s.values.reduce(function (a, b) { return a + b; }, 0);
    }, 0)));
    el.classList.add("drawn");
    window.payiCharts.push({id: el.id, data: data, chart: chart});
  }

  function ready() {
    document.querySelectorAll(".chart[data-chart]").forEach(draw);
    // 3. Confirm destructive forms.
    document.querySelectorAll("form.confirm").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm") || "Are you sure?")) event.preventDefault();
      });
    });
    // 4. Custom dates only when the range is custom.
    var range = document.getElementById("f-range");
    function toggle() {
      document.querySelectorAll(".filters .custom").forEach(function (el) {
        el.hidden = !range || range.value !== "custom";
      });
    }
    if (range) { range.addEventListener("change", toggle); toggle(); }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", ready);
  else ready();
})();
