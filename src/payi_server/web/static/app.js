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

  var HOUR = 3600, DAY = 86400;
  // Tick steps per bucket: a daily chart never ticks every 6 hours, a monthly one never every few days.
  var INCRS = {
    hour: [HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 2 * DAY, 7 * DAY],
    day: [DAY, 2 * DAY, 7 * DAY, 14 * DAY, 30 * DAY, 60 * DAY, 90 * DAY, 180 * DAY, 365 * DAY],
    month: [30 * DAY, 60 * DAY, 90 * DAY, 180 * DAY, 365 * DAY, 730 * DAY]
  };

  function sum(values) { return values.reduce(function (a, b) { return a + b; }, 0); }

  // The bucket still in progress (today, this hour) is striped, so that a partial day does not read as a drop.
  function stripePartial(u, data) {
    if (data.partial_from == null) return;
    var ctx = u.ctx, box = u.bbox;
    var left = Math.max(box.left, u.valToPos(data.partial_from, "x", true));
    var right = Math.min(box.left + box.width, u.valToPos(data.end, "x", true));
    if (right <= left) return;
    ctx.save();
    ctx.beginPath();
    ctx.rect(left, box.top, right - left, box.height);
    ctx.clip();
    ctx.fillStyle = "rgba(148, 163, 184, 0.12)";
    ctx.fillRect(left, box.top, right - left, box.height);
    ctx.strokeStyle = "rgba(255, 255, 255, 0.75)";
    ctx.lineWidth = 3 * devicePixelRatio;
    var step = 10 * devicePixelRatio;
    for (var x = left - box.height; x < right; x += step) {
      ctx.beginPath();
      ctx.moveTo(x, box.top + box.height);
      ctx.lineTo(x + box.height, box.top);
      ctx.stroke();
    }
    ctx.restore();
  }

  function draw(el) {
    var source = document.getElementById(el.getAttribute("data-chart"));
    if (!source || typeof uPlot === "undefined") return;
    var data = JSON.parse(source.textContent);
    var single = data.series.length === 1 && !data.lines;
    var fmt = data.unit === "count" ? function (v) { return v == null ? "" : v.toLocaleString("en-US"); }
      : data.unit === "ms" ? function (v) { return v == null ? "—" : Math.round(v).toLocaleString("en-US") + " ms"; }
      : money;
    // the axis of a latency chart in seconds from 1 s up ("40 s", not a number too wide for the axis)
    var tick = data.unit !== "ms" ? fmt : function (v) {
      return v >= 1000 ? (v / 1000).toLocaleString("en-US", {maximumFractionDigits: 1}) + " s" : Math.round(v) + " ms";
    };
    // a chart of percentiles brings the range's own figures (percentiles do not add up)
    var totals = data.totals || data.series.map(function (s) { return sum(s.values); });
    var zone = data.tz || "UTC";
    var stamp = uPlot.fmtDate(data.bucket === "month" ? "{MMM} {YYYY}" : data.bucket === "day" ? "{WWW} {D} {MMM} {YYYY}" : "{D} {MMM} {H}:{mm}");
    // Before any hover the legend shows the range's totals (never "--"); on hover, the bucket's values.
    var series = [{
      label: data.bucket === "hour" ? "Hour" : data.bucket === "day" ? "Day" : "Month",
      value: function (u, v, si, idx) { return idx == null ? "whole range" : stamp(u.tzDate ? u.tzDate(v) : new Date(v * 1e3)); }
    }];
    var columns = [data.x];
    data.series.forEach(function (s, i) {
      var colour = palette[i % palette.length];
      series.push({
        label: s.label,
        stroke: colour,
        fill: single ? colour + "99" : undefined,
        width: single ? 0 : 2,
        value: function (u, v, si, idx) { return idx == null ? fmt(totals[si - 1]) : fmt(v); },
        // bars cover their bucket [start, next start): align 1 puts a bar's left edge on its start
        paths: single && uPlot.paths && uPlot.paths.bars ? uPlot.paths.bars({size: [0.86, 64], align: 1}) : undefined,
        points: {show: !single && data.x.length < 60}
      });
      columns.push(s.values);
    });
    var last = data.x.length ? data.x[data.x.length - 1] : 0;
    var end = data.end || last;
    var opts = {
      width: Math.max(320, el.clientWidth || 800),
      height: 260,
      series: series,
      tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1e3), zone); },
      // the whole last bucket is on the chart: the x scale ends where the range ends, not at the last start
      scales: {x: {time: true, range: function () { return [data.x.length ? data.x[0] : end - DAY, end]; }}},
      axes: [{incrs: INCRS[data.bucket] || undefined}, {values: function (u, vals) { return vals.map(tick); }, size: 70}],
      legend: {live: true},
      hooks: {draw: [function (u) { stripePartial(u, data); }]}
    };
    var chart = new uPlot(opts, columns, el);
    chart.setLegend({idx: null});
    el.setAttribute("data-total", String(sum(totals)));
    if (data.partial_from != null) el.setAttribute("data-partial-from", String(data.partial_from));
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
