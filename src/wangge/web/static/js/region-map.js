// Region browser map: draws the children's polygons (coloured by level) and the region's own
// outline from /api/v1/regions/{code}/geometry; hover names a child, click drills down.
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("map-config").textContent);
  var text = JSON.parse(document.getElementById("map-text").textContent);
  var el = document.getElementById("map");
  var status = document.getElementById("map-status");
  if (!el || typeof L === "undefined") return;

  // One hue per level; children of one parent vary in lightness so neighbours stay distinct.
  var HUES = { province: 215, city: 215, county: 221, township: 160, village: 32, grid: 262 };
  function fillFor(level, i) {
    var hue = HUES[level] || 215;
    var light = [50, 64, 42, 72, 57][i % 5];
    return "hsl(" + hue + ", 62%, " + light + "%)";
  }

  function setStatus(message) {
    status.textContent = message || "";
    status.hidden = !message;
  }

  var map = L.map(el, {
    zoomSnap: 0.25, attributionControl: false, scrollWheelZoom: false,
    preferCanvas: false, worldCopyJump: false,
  });
  if (config.tileUrl) {
    L.tileLayer(config.tileUrl, { maxZoom: 18 }).addTo(map);
  } else {
    el.classList.add("map-plain");
  }
  el.addEventListener("click", function () { map.scrollWheelZoom.enable(); }, { once: true });

  var byCode = {};
  function rowFor(code) {
    return document.querySelector('#children-rows tr[data-code="' + code + '"]');
  }
  function highlight(code, on) {
    var layer = byCode[code];
    if (layer) {
      layer.setStyle(on ? { weight: 3, color: "#0f172a", fillOpacity: 0.85 }
                        : { weight: 1, color: "#ffffff", fillOpacity: 0.7 });
      if (on) layer.bringToFront();
    }
    var row = rowFor(code);
    if (row) row.classList.toggle("is-hot", on);
  }

  fetch(config.geometryUrl, { headers: { Accept: "application/json" } })
    .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
    .then(function (fc) {
      var own = fc.features.filter(function (f) { return f.properties.self; });
      var kids = fc.features.filter(function (f) { return !f.properties.self; });
      if (!fc.features.length) {
        el.hidden = true;
        setStatus(text.noShapes);
        el.dataset.paths = "0";
        el.dataset.ready = "1";
        return;
      }
      var bounds = L.latLngBounds([]);
      var layers = [];
      kids.forEach(function (f, i) {
        var layer = L.geoJSON(f, {
          style: {
            className: "region-child level-" + f.properties.level + " code-" + f.properties.code,
            color: "#ffffff", weight: 1, fillColor: fillFor(f.properties.level, i),
            fillOpacity: 0.7,
          },
        });
        var code = f.properties.code;
        layer.bindTooltip(f.properties.name, { sticky: true, direction: "top", className: "map-tip" });
        layer.on("mouseover", function () { highlight(code, true); });
        layer.on("mouseout", function () { highlight(code, false); });
        layer.on("click", function () { window.location.href = "/regions/" + code; });
        layers.push(layer);
        layer.eachLayer(function (l) { byCode[code] = l; });
        bounds.extend(layer.getBounds());
      });
      own.forEach(function (f) {
        var layer = L.geoJSON(f, {
          interactive: !kids.length,
          style: {
            className: "region-self level-" + f.properties.level,
            color: "#0f172a", weight: 2.5, dashArray: kids.length ? "6 4" : null,
            fill: !kids.length, fillColor: fillFor(f.properties.level, 0), fillOpacity: 0.35,
          },
        });
        if (!kids.length) layer.bindTooltip(f.properties.name, { sticky: true, className: "map-tip" });
        layers.push(layer);
        bounds.extend(layer.getBounds());
      });
      // Fit before drawing and without animation, so paths are never caught mid-zoom.
      map.fitBounds(bounds, { padding: [12, 12], animate: false });
      layers.forEach(function (layer) { layer.addTo(map); });
      setStatus(config.children && !kids.length ? text.noShapes : "");
      el.dataset.paths = String(kids.length);
      el.dataset.ready = "1";
    })
    .catch(function () { setStatus(text.failed); el.dataset.ready = "error"; });

  // Hovering a row lights its shape on the map.
  var rows = document.getElementById("children-rows");
  if (rows) {
    rows.addEventListener("mouseover", function (e) {
      var tr = e.target.closest("tr[data-code]");
      if (tr) highlight(tr.dataset.code, true);
    });
    rows.addEventListener("mouseout", function (e) {
      var tr = e.target.closest("tr[data-code]");
      if (tr) highlight(tr.dataset.code, false);
    });
  }
})();
