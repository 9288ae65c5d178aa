// The command centre: a map of the child regions coloured from the units table (the chosen
// directive's completion rate, or open cases), a live feed from the event stream, and the
// panel's parts (counters, units, overdue units, emergencies) refetched, debounced, whenever a
// directive, assignment or case event arrives. EventSource resumes with Last-Event-ID by itself.
(function () {
  "use strict";
  var C = window.Cases;
  var config = C.json("live-config");
  var panel = document.getElementById("cmd-panel");
  if (!config || !panel) return;
  var text = config.text;
  var PARTS = ["cmd-counters", "cmd-units", "cmd-overdue", "cmd-emergencies"];

  // --- the directive picker: choosing one shows it at once ---------------------------------
  var select = document.getElementById("directive-select");
  if (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  }

  // --- the map -------------------------------------------------------------------------------
  var el = document.getElementById("cmd-map");
  var status = document.getElementById("map-status");
  var layers = {};

  function setStatus(message) {
    status.textContent = message || "";
    status.hidden = !message;
  }

  // Completion: red → amber → green; cases: light → deep blue. Not targeted: grey.
  function colour(value) {
    if (value === null) return "#d5dbe3";
    var v = Math.max(0, Math.min(1, value));
    if (config.mode === "rate") {
      var hue = Math.round(4 + v * 128);
      return "hsl(" + hue + ", 68%, " + (48 - v * 8) + "%)";
    }
    return "hsl(214, " + Math.round(40 + v * 40) + "%, " + Math.round(90 - v * 52) + "%)";
  }

  function rows() {
    var out = {};
    panel.querySelectorAll("#cmd-rows tr[data-code]").forEach(function (tr) {
      out[tr.dataset.code] = {
        value: tr.dataset.value === "" ? null : Number(tr.dataset.value),
        alert: tr.dataset.alert === "1", tip: tr.dataset.tip, row: tr,
      };
    });
    return out;
  }

  function paint() {
    var data = rows();
    Object.keys(layers).forEach(function (code) {
      var d = data[code] || { value: null, alert: false, tip: config.names[code] || code };
      var layer = layers[code];
      layer.setStyle({ fillColor: colour(d.value), color: d.alert ? "#b91c1c" : "#ffffff",
                       weight: d.alert ? 2.5 : 1 });
      layer.setTooltipContent(d.tip);
      var path = layer.getElement && layer.getElement();
      if (path) path.setAttribute("data-value", d.value === null ? "" : String(d.value));
    });
    if (el) el.dataset.painted = String(Number(el.dataset.painted || "0") + 1);
  }

  function hot(code, on) {
    var layer = layers[code];
    if (layer) {
      layer.setStyle(on ? { weight: 3, color: "#0f172a", fillOpacity: 0.9 }
                        : { fillOpacity: 0.78 });
      if (on) layer.bringToFront();
      if (!on) paint();
    }
    var tr = panel.querySelector('#cmd-rows tr[data-code="' + code + '"]');
    if (tr) tr.classList.toggle("is-hot", on);
  }

  if (el && typeof L !== "undefined") {
    var map = C.baseMap(el, config);
    fetch(config.geometryUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.json(); })
      .then(function (fc) {
        var kids = fc.features.filter(function (f) { return !f.properties.self; });
        var own = fc.features.filter(function (f) { return f.properties.self; });
        if (!fc.features.length) {
          el.hidden = true;
          setStatus(text.map_no_shape);
          el.dataset.ready = "1";
          return;
        }
        var bounds = L.latLngBounds([]);
        var drawn = [];
        kids.forEach(function (f) {
          var code = f.properties.code;
          var layer = L.geoJSON(f, { style: {
            className: "cmd-child code-" + code, color: "#ffffff", weight: 1,
            fillColor: colour(null), fillOpacity: 0.78 } });
          layer.eachLayer(function (l) { layers[code] = l; });
          layer.bindTooltip(f.properties.name, { sticky: true, direction: "top", className: "map-tip" });
          layer.on("mouseover", function () { hot(code, true); });
          layer.on("mouseout", function () { hot(code, false); });
          layer.on("click", function () {
            window.location.href = config.drill.replace("{code}", code);
          });
          drawn.push(layer);
          bounds.extend(layer.getBounds());
        });
        own.forEach(function (f) {
          var layer = L.geoJSON(f, { interactive: false, style: {
            color: "#0f172a", weight: 2.5, dashArray: kids.length ? "6 4" : null,
            fill: !kids.length, fillColor: colour(null), fillOpacity: 0.3 } });
          drawn.push(layer);
          bounds.extend(layer.getBounds());
        });
        map.fitBounds(bounds, { padding: [12, 12], animate: false });
        drawn.forEach(function (layer) { layer.addTo(map); });
        setStatus(kids.length || !Object.keys(rows()).length ? "" : text.map_no_shapes);
        paint();
        el.dataset.paths = String(kids.length);
        el.dataset.ready = "1";
      })
      .catch(function () { setStatus(text.map_failed); el.dataset.ready = "error"; });
  }

  panel.addEventListener("mouseover", function (e) {
    var tr = e.target.closest && e.target.closest("#cmd-rows tr[data-code]");
    if (tr) hot(tr.dataset.code, true);
  });
  panel.addEventListener("mouseout", function (e) {
    var tr = e.target.closest && e.target.closest("#cmd-rows tr[data-code]");
    if (tr) hot(tr.dataset.code, false);
  });

  // --- the live refresh --------------------------------------------------------------------
  var timer = null, busy = false, again = false;

  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    C.fragment(panel.dataset.refresh)
      .then(function (html) {
        if (!html) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        PARTS.forEach(function (id) {
          var fresh = doc.getElementById(id), old = document.getElementById(id);
          if (fresh && old) old.replaceWith(document.importNode(fresh, true));
        });
        paint();
        panel.dataset.refreshed = String(Number(panel.dataset.refreshed || "0") + 1);
      })
      .catch(function () { /* the next event retries */ })
      .then(function () {
        busy = false;
        if (again) { again = false; refresh(); }
      });
  }

  function soon() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 400);
  }

  // --- the feed ------------------------------------------------------------------------------
  var feed = document.getElementById("cmd-feed");
  var MAX_FEED = 40;

  // The child region an event's code lies in, by name (the unit itself is named by its code).
  function where(code) {
    if (!code) return "";
    if (config.names[code]) return config.names[code];
    var best = "";
    Object.keys(config.names).forEach(function (c) {
      if (code.indexOf(c) === 0 && c.length > best.length) best = c;
    });
    return best && best !== config.code ? config.names[best] + " · " + code.slice(best.length) : code;
  }

  function format(template, values) {
    return String(template || "").replace(/\{(\w+)\}/g, function (_, k) {
      return values[k] === undefined ? "" : String(values[k]);
    });
  }

  function say(type, payload, at) {
    var line;
    if (type.indexOf("case.") === 0) {
      line = (text[type] || type) + " · " + (payload.number || payload.title || "") ;
    } else if (type === "directive.overdue") {
      line = format(text[ "feed." + type], { count: payload.count,
        step: text["dstep." + payload.step] || payload.step || "" });
    } else if (type === "directive.reminded") {
      line = text["daction.remind"] + " · " + where(payload.region) + " (" + payload.reminded + ")";
    } else {
      line = format(text["feed." + type], { title: payload.title || "",
        where: where(payload.region_code) });
    }
    var empty = feed.querySelector(".feed-empty");
    if (empty) empty.remove();
    var li = document.createElement("li");
    var kind = type.split(".")[1] || type;
    li.className = "feed-item is-new feed-" + kind + (payload.overdue ? " feed-late" : "");
    li.dataset.type = type;
    var time = document.createElement("time");
    var when = at ? new Date(at) : new Date();
    time.dateTime = when.toISOString();
    time.textContent = when.toLocaleTimeString("zh-CN", { hour12: false, timeZone: "Asia/Shanghai" });
    var span = document.createElement("span");
    span.textContent = line;
    li.append(time, span);
    feed.insertBefore(li, feed.firstChild);
    while (feed.children.length > MAX_FEED) feed.lastElementChild.remove();
  }

  if (typeof EventSource !== "undefined") {
    var stateEl = document.getElementById("live-status");
    var source = new EventSource(config.stream);
    source.onopen = function () {
      stateEl.dataset.state = "on"; stateEl.textContent = stateEl.dataset.on;
    };
    source.onerror = function () {
      stateEl.dataset.state = "off"; stateEl.textContent = stateEl.dataset.off;
    };
    config.events.forEach(function (type) {
      source.addEventListener(type, function (e) {
        var data;
        try { data = JSON.parse(e.data); } catch (err) { return; }
        var payload = data.payload || {};
        var code = data.region_code || "";
        // Only what happens in this region (or, for the issuing level, to it).
        var mine = code.indexOf(config.code) === 0 || config.code.indexOf(code) === 0;
        if (!mine) return;
        var directive = payload.directive_id || (type === "directive.issued" ? payload.id : null);
        if (!config.directive || !directive || directive === config.directive ||
            type === "directive.issued") {
          say(type, payload, data.at);
        }
        soon();
      });
    });
    window.addEventListener("pagehide", function () { source.close(); });
  }

  // --- reminding an overdue unit ---------------------------------------------------------------
  panel.addEventListener("click", function (e) {
    var button = e.target.closest && e.target.closest("button[data-remind]");
    if (!button) return;
    button.disabled = true;
    C.api("POST", "/api/v1/assignments/" + button.dataset.remind + "/actions/remind",
          { version: Number(button.dataset.version) })
      .then(function (res) {
        if (res.ok) {
          button.textContent = text.cmd_reminded;
        } else {
          button.disabled = false;
          button.title = res.status === 409 ? text.my_conflict
            : (res.data && res.data.message) || text.network_error;
        }
        soon();
      });
  });
})();
