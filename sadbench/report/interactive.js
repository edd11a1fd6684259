// sadbench report: the interactive trajectory view. Plain JavaScript and SVG, no library, works offline.
// Reads the JSON in <script id="sadbench-data">; filters by parameter and verdict, hovers a trajectory.
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var root = document.getElementById("sadbench-explorer");
  var data = JSON.parse(document.getElementById("sadbench-data").textContent);
  var W = 900, H = 420, M = {left: 70, right: 20, top: 16, bottom: 42};
  var state = {quantity: data.quantities[0][0], filters: {}, verdicts: {}};
  data.verdicts.forEach(function (v) { state.verdicts[v] = true; });

  function el(tag, attrs, parent) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (parent) { parent.appendChild(node); }
    return node;
  }
  function svgEl(tag, attrs, parent) {
    var node = document.createElementNS(NS, tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (parent) { parent.appendChild(node); }
    return node;
  }

  var controls = el("div", {"class": "sb-controls"}, root);
  function labelled(text, control) {
    var label = el("label", {}, controls);
    label.appendChild(document.createTextNode(text + " "));
    label.appendChild(control);
    return label;
  }
  var quantity = el("select", {"id": "sb-quantity"});
  labelled("quantity", quantity);
  data.quantities.forEach(function (q) { el("option", {"value": q[0]}, quantity).textContent = q[1]; });
  quantity.addEventListener("change", function () { state.quantity = quantity.value; draw(); });
  data.axes.forEach(function (axis, a) {
    var select = el("select", {"id": "sb-axis-" + a, "data-key": axis.key});
    labelled(axis.label, select);
    el("option", {"value": ""}, select).textContent = "all";
    axis.values.forEach(function (value, i) { el("option", {"value": String(i)}, select).textContent = value; });
    select.addEventListener("change", function () {
      if (select.value === "") { delete state.filters[a]; } else { state.filters[a] = Number(select.value); }
      draw();
    });
  });
  data.verdicts.forEach(function (v) {
    var box = el("input", {"type": "checkbox", "id": "sb-verdict-" + v, "checked": "checked"});
    var label = labelled("", box);
    el("span", {"class": "sb-swatch", "style": "background:" + data.colours[v]}, label);
    label.appendChild(document.createTextNode(v));
    box.addEventListener("change", function () { state.verdicts[v] = box.checked; draw(); });
  });
  var count = el("div", {"class": "sb-count", "id": "sb-count"}, root);
  var svg = svgEl("svg", {"id": "sb-plot", "viewBox": "0 0 " + W + " " + H, "width": "100%",
                          "style": "max-width:1000px",
                          "role": "img", "aria-label": "trajectories"}, root);
  var tooltip = el("div", {"class": "sb-tooltip", "id": "sb-tooltip"}, root);

  function logScale(lo, hi, a, b) {
    var l0 = Math.log10(lo), l1 = Math.log10(hi);
    if (l1 - l0 < 1e-12) { l0 -= 0.5; l1 += 0.5; }
    return {map: function (v) { return a + (Math.log10(v) - l0) / (l1 - l0) * (b - a); }, lo: l0, hi: l1, log: true};
  }
  function linScale(lo, hi, a, b) {
    if (hi - lo < 1e-300) { lo -= 0.5; hi += 0.5; }
    return {map: function (v) { return a + (v - lo) / (hi - lo) * (b - a); }, lo: lo, hi: hi, log: false};
  }
  function ticks(scale) {
    var out = [];
    if (scale.log) {
      var step = Math.max(1, Math.ceil((Math.floor(scale.hi) - Math.ceil(scale.lo)) / 8));
      for (var e = Math.ceil(scale.lo); e <= Math.floor(scale.hi); e += step) { out.push([Math.pow(10, e), "1e" + e]); }
    } else {
      for (var k = 0; k <= 4; k++) {
        var v = scale.lo + (scale.hi - scale.lo) * k / 4;
        out.push([v, Number(v.toPrecision(3)).toString()]);
      }
    }
    return out;
  }
  function visible(member) {
    if (!state.verdicts[member.verdict]) { return false; }
    return Object.keys(state.filters).every(function (a) { return member.axes[a] === state.filters[a]; });
  }
  function column(member, name) {  // R = ||θ||·||∇L|| is formed here, not shipped
    if (name !== "R") { return member[name]; }
    return member.norm.map(function (v, i) {
      return v === null || member.grad_norm[i] === null ? null : v * member.grad_norm[i];
    });
  }
  function points(member, yLog) {
    var t = member.t, y = column(member, state.quantity), out = [];
    for (var i = 0; i < t.length; i++) {
      if (t[i] > 0 && y[i] !== null && isFinite(y[i]) && (!yLog || y[i] > 0)) { out.push([t[i], y[i]]); }
    }
    return out;
  }
  function show(member, event) {
    tooltip.textContent = member.case + ", seed " + member.seed + ": " + member.verdict +
      (member.reason ? " (" + member.reason + ")" : "");
    tooltip.style.display = "block";
    var box = root.getBoundingClientRect();
    tooltip.style.left = (event.clientX - box.left + 12) + "px";
    tooltip.style.top = (event.clientY - box.top + 12) + "px";
  }

  function draw() {
    while (svg.firstChild) { svg.removeChild(svg.firstChild); }
    var yLog = data.quantities.filter(function (q) { return q[0] === state.quantity; })[0][2];
    var shown = data.members.filter(visible);
    var lines = shown.map(function (m) { return [m, points(m, yLog)]; }).filter(function (p) { return p[1].length; });
    count.textContent = "showing " + lines.length + " of " + data.members.length + " trajectories" +
      (data.truncated ? " (the first " + data.members.length + " of " + data.total + " members)" : "");
    if (!lines.length) { return; }
    var tmin = Infinity, tmax = -Infinity, ymin = Infinity, ymax = -Infinity;
    lines.forEach(function (p) {
      p[1].forEach(function (xy) {
        tmin = Math.min(tmin, xy[0]); tmax = Math.max(tmax, xy[0]);
        ymin = Math.min(ymin, xy[1]); ymax = Math.max(ymax, xy[1]);
      });
    });
    var x = logScale(tmin, tmax, M.left, W - M.right);
    var y = yLog ? logScale(ymin, ymax, H - M.bottom, M.top) : linScale(ymin, ymax, H - M.bottom, M.top);
    var axes = svgEl("g", {"class": "sb-axes"}, svg);
    svgEl("rect", {"x": M.left, "y": M.top, "width": W - M.left - M.right, "height": H - M.top - M.bottom,
                   "fill": "none", "stroke": "#999"}, axes);
    ticks(x).forEach(function (tk) {
      var px = x.map(tk[0]);
      svgEl("line", {"x1": px, "x2": px, "y1": M.top, "y2": H - M.bottom, "stroke": "#eee"}, axes);
      svgEl("text", {"x": px, "y": H - M.bottom + 16, "text-anchor": "middle", "font-size": 11}, axes)
        .textContent = tk[1];
    });
    ticks(y).forEach(function (tk) {
      var py = y.map(tk[0]);
      svgEl("line", {"x1": M.left, "x2": W - M.right, "y1": py, "y2": py, "stroke": "#eee"}, axes);
      svgEl("text", {"x": M.left - 6, "y": py + 4, "text-anchor": "end", "font-size": 11}, axes).textContent = tk[1];
    });
    svgEl("text", {"x": (M.left + W - M.right) / 2, "y": H - 6, "text-anchor": "middle", "font-size": 12}, axes)
      .textContent = "t";
    var name = data.quantities.filter(function (q) { return q[0] === state.quantity; })[0][1];
    svgEl("text", {"x": 14, "y": (M.top + H - M.bottom) / 2, "text-anchor": "middle", "font-size": 12,
                   "transform": "rotate(-90 14 " + (M.top + H - M.bottom) / 2 + ")"}, axes).textContent = name;
    var group = svgEl("g", {"class": "sb-lines"}, svg);
    lines.forEach(function (p) {
      var member = p[0];
      var d = p[1].map(function (xy, i) {
        return (i ? "L" : "M") + x.map(xy[0]).toFixed(1) + " " + y.map(xy[1]).toFixed(1);
      }).join("");
      var path = svgEl("path", {"d": d, "fill": "none", "stroke": data.colours[member.verdict],
                                "stroke-width": 1.2, "stroke-opacity": 0.75, "class": "sb-line"}, group);
      path.addEventListener("mouseenter", function (event) {
        path.setAttribute("stroke-width", 3.5);
        path.setAttribute("stroke-opacity", 1);
        group.appendChild(path);  // on top
        show(member, event);
      });
      path.addEventListener("mousemove", function (event) { show(member, event); });
      path.addEventListener("mouseleave", function () {
        path.setAttribute("stroke-width", 1.2);
        path.setAttribute("stroke-opacity", 0.75);
        tooltip.style.display = "none";
      });
    });
  }
  draw();
}());
