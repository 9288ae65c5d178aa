// Shared by the case pages: API calls with the session's CSRF token, errors shown next to
// their fields, photo uploads, fields drawn from a category's JSON schema, the live stream.
(function () {
  "use strict";

  function csrf() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  // fetch() with JSON in and out; resolves to {ok, status, data} (status 0: network error).
  function api(method, url, body) {
    var headers = { Accept: "application/json", "X-CSRF-Token": csrf() };
    var init = { method: method, headers: headers, credentials: "same-origin" };
    if (body instanceof FormData) {
      init.body = body;
    } else if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(url, init).then(function (res) {
      return res.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = { message: text }; }
        return { ok: res.ok, status: res.status, data: data };
      });
    }, function () { return { ok: false, status: 0, data: null }; });
  }

  // An id for one draft, so that submitting it again is recognised (idempotent intake).
  // crypto.randomUUID needs a secure context; an intranet served over plain http has none.
  function uuid() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      return window.crypto.randomUUID();
    }
    var b = new Uint8Array(16);
    window.crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); });
    return h.slice(0, 4).join("") + "-" + h.slice(4, 6).join("") + "-" + h.slice(6, 8).join("") +
      "-" + h.slice(8, 10).join("") + "-" + h.slice(10).join("");
  }

  // The API's 422 names a field ("title", "fields.people_count", "handler.region"); a
  // model-level check says it in its reason ("Value error, location: ...").
  function errorsOf(data) {
    var list = (data && data.errors) || (data && data.field !== undefined ?
      [{ field: data.field, reason: data.reason || data.message }] : []);
    return list.map(function (e) {
      var field = e.field || "";
      var reason = String(e.reason || (data && data.message) || "");
      var m = /^Value error, ([a-z_.]+): (.*)$/.exec(reason);
      if (!field && m) { field = m[1]; reason = m[2]; }
      return { field: field, reason: reason };
    });
  }

  function clearErrors(form) {
    form.querySelectorAll(".field-error").forEach(function (el) { el.remove(); });
    form.querySelectorAll(".has-error").forEach(function (el) { el.classList.remove("has-error"); });
    var general = form.querySelector(".form-error");
    if (general) { general.hidden = true; general.textContent = ""; }
  }

  // Puts each error next to the element whose data-field is the field or its nearest parent
  // ("fields.people_count", then "fields"); the rest go to the form's general message.
  function showErrors(form, errors, fallback) {
    var rest = [];
    errors.forEach(function (e) {
      var name = e.field, target = null;
      while (name && !target) {
        target = form.querySelector('[data-field="' + name + '"]');
        name = name.indexOf(".") > 0 ? name.slice(0, name.lastIndexOf(".")) : "";
      }
      if (!target) { rest.push(e.reason); return; }
      target.classList.add("has-error");
      var p = document.createElement("span");
      p.className = "field-error";
      p.setAttribute("role", "alert");
      p.textContent = e.reason;
      var slot = target.querySelector(".error-slot");
      (slot || target).appendChild(p);
    });
    var general = form.querySelector(".form-error");
    var text = rest.length ? rest.join(" ") : fallback;
    if (general && text) { general.textContent = text; general.hidden = false; }
    var first = form.querySelector(".has-error, .form-error:not([hidden])");
    if (first && first.scrollIntoView) first.scrollIntoView({ block: "center", behavior: "smooth" });
  }

  // Editing a marked field takes its mark away.
  function clearOnEdit(form) {
    function clear(e) {
      var holder = e.target.closest && e.target.closest(".has-error");
      if (!holder) return;
      holder.classList.remove("has-error");
      holder.querySelectorAll(".field-error").forEach(function (el) { el.remove(); });
      var general = form.querySelector(".form-error");
      if (general && !form.querySelector(".has-error")) general.hidden = true;
    }
    form.addEventListener("input", clear);
    form.addEventListener("change", clear);
  }

  // Uploads each chosen photo at once (POST /api/v1/photos) and lists it with a thumbnail;
  // photoIds(list) gives the ids uploaded so far.
  function photoPicker(input, list, text, onError) {
    input.addEventListener("change", function () {
      Array.prototype.forEach.call(input.files || [], function (file) {
        var li = document.createElement("li");
        li.className = "photo is-uploading";
        var img = document.createElement("img");
        img.alt = file.name;
        img.src = URL.createObjectURL(file);
        var state = document.createElement("span");
        state.className = "photo-state";
        state.textContent = text.report_photo_uploading;
        var remove = document.createElement("button");
        remove.type = "button";
        remove.className = "photo-remove";
        remove.title = text.report_photo_remove;
        remove.setAttribute("aria-label", text.report_photo_remove);
        remove.textContent = "×";
        remove.addEventListener("click", function () { li.remove(); });
        li.append(img, state, remove);
        list.appendChild(li);
        var body = new FormData();
        body.append("file", file, file.name);
        api("POST", "/api/v1/photos", body).then(function (res) {
          li.classList.remove("is-uploading");
          if (res.ok) {
            li.dataset.photoId = String(res.data.id);
            li.classList.add("is-done");
            state.textContent = "✓";
          } else {
            li.classList.add("is-failed");
            state.textContent = text.report_photo_failed;
            onError(res.status ? (res.data && res.data.message) || String(res.status)
                    : text.network_error);
          }
        });
      });
      input.value = "";
    });
  }

  function photoIds(list) {
    return Array.prototype.map.call(list.querySelectorAll("li[data-photo-id]"), function (li) {
      return Number(li.dataset.photoId);
    });
  }

  function photosPending(list) {
    return list.querySelector("li.is-uploading") !== null;
  }

  // Inputs for a category's extra fields (simple JSON-schema properties: integer, number,
  // string, date strings, enums, booleans), each inside data-field="fields.NAME".
  function renderFields(container, schema, labels, values, text) {
    container.textContent = "";
    var props = (schema && schema.properties) || {};
    Object.keys(props).forEach(function (name) {
      var prop = props[name] || {};
      var wrap = document.createElement("label");
      wrap.className = "field";
      wrap.dataset.field = "fields." + name;
      var caption = document.createElement("span");
      caption.textContent = labels.fieldLabels[name] || prop.title || name;
      wrap.appendChild(caption);
      var input, value = values ? values[name] : undefined;
      if (prop.enum || prop.type === "boolean") {
        input = document.createElement("select");
        var options = prop.enum ? prop.enum.slice() : [true, false];
        input.appendChild(new Option(text.choose, ""));
        options.forEach(function (v) {
          var label = typeof v === "boolean" ? (v ? text.yes : text.no)
            : (labels.valueLabels[String(v)] || String(v));
          input.appendChild(new Option(label, JSON.stringify(v)));
        });
        if (value !== undefined) input.value = JSON.stringify(value);
        input.dataset.kind = "json";
      } else if (prop.type === "integer" || prop.type === "number") {
        input = document.createElement("input");
        input.type = "number";
        input.inputMode = prop.type === "integer" ? "numeric" : "decimal";
        if (prop.type === "integer") input.step = "1";
        if (prop.minimum !== undefined) input.min = String(prop.minimum);
        if (prop.maximum !== undefined) input.max = String(prop.maximum);
        input.dataset.kind = prop.type;
        if (value !== undefined) input.value = String(value);
      } else if (prop.format === "date") {
        input = document.createElement("input");
        input.type = "date";
        input.dataset.kind = "string";
        if (value !== undefined) input.value = String(value);
      } else {
        var long = (prop.maxLength || 0) > 200;
        input = document.createElement(long ? "textarea" : "input");
        if (long) input.rows = 2; else input.type = "text";
        if (prop.maxLength) input.maxLength = prop.maxLength;
        input.dataset.kind = "string";
        if (value !== undefined) input.value = String(value);
      }
      input.name = "fields." + name;
      wrap.appendChild(input);
      container.appendChild(wrap);
    });
    return Object.keys(props).length;
  }

  // The filled-in fields, typed; blanks are left out.
  function readFields(container) {
    var out = {};
    container.querySelectorAll("[name^='fields.']").forEach(function (el) {
      var raw = el.value.trim();
      if (raw === "") return;
      var name = el.name.slice(7);
      if (el.dataset.kind === "json") out[name] = JSON.parse(raw);
      else if (el.dataset.kind === "integer") out[name] = /^-?\d+$/.test(raw) ? Number(raw) : raw;
      else if (el.dataset.kind === "number") out[name] = isNaN(Number(raw)) ? raw : Number(raw);
      else out[name] = raw;
    });
    return out;
  }

  // Fetches a page fragment (htmx-style request). Resolves to its HTML, or null when it
  // failed; an expired session follows the server's HX-Redirect to the log-in page.
  function fragment(url) {
    return fetch(url, { headers: { Accept: "text/html", "HX-Request": "true" },
                        credentials: "same-origin" })
      .then(function (res) {
        if (res.status === 401 && res.headers.get("HX-Redirect")) {
          window.location.assign(res.headers.get("HX-Redirect"));
          return null;
        }
        return res.ok ? res.text() : null;
      });
  }

  // Follows the event stream (the session cookie authenticates it; EventSource reconnects and
  // resumes by itself) and calls onEvent(type, payload) for every case event.
  function live(config, onEvent) {
    var status = document.getElementById("live-status");
    function show(state) {
      if (!status) return;
      status.dataset.state = state;
      status.textContent = state === "on" ? status.dataset.on : state === "off" ? status.dataset.off : "";
    }
    if (typeof EventSource === "undefined") return null;
    var source = new EventSource(config.stream);
    source.onopen = function () { show("on"); };
    source.onerror = function () { show("off"); };
    config.events.forEach(function (type) {
      source.addEventListener(type, function (e) {
        var data = {};
        try { data = JSON.parse(e.data); } catch (err) { return; }
        onEvent(type, data.payload || {});
      });
    });
    window.addEventListener("pagehide", function () { source.close(); });
    return source;
  }

  // WGS-84 → GCJ-02 (the offset Chinese web maps use), for a GPS fix on a GCJ-02 tile map.
  function wgs84ToGcj02(lng, lat) {
    var a = 6378245.0, ee = 0.00669342162296594323, pi = Math.PI;
    if (lng < 72.004 || lng > 137.8347 || lat < 0.8293 || lat > 55.8271) return [lng, lat];
    function tLat(x, y) {
      var r = -100 + 2 * x + 3 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x));
      r += (20 * Math.sin(6 * x * pi) + 20 * Math.sin(2 * x * pi)) * 2 / 3;
      r += (20 * Math.sin(y * pi) + 40 * Math.sin(y / 3 * pi)) * 2 / 3;
      return r + (160 * Math.sin(y / 12 * pi) + 320 * Math.sin(y * pi / 30)) * 2 / 3;
    }
    function tLng(x, y) {
      var r = 300 + x + 2 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x));
      r += (20 * Math.sin(6 * x * pi) + 20 * Math.sin(2 * x * pi)) * 2 / 3;
      r += (20 * Math.sin(x * pi) + 40 * Math.sin(x / 3 * pi)) * 2 / 3;
      return r + (150 * Math.sin(x / 12 * pi) + 300 * Math.sin(x / 30 * pi)) * 2 / 3;
    }
    var dLat = tLat(lng - 105, lat - 35), dLng = tLng(lng - 105, lat - 35);
    var rad = lat / 180 * pi, magic = 1 - ee * Math.sin(rad) * Math.sin(rad), sq = Math.sqrt(magic);
    dLat = (dLat * 180) / ((a * (1 - ee)) / (magic * sq) * pi);
    dLng = (dLng * 180) / (a / sq * Math.cos(rad) * pi);
    return [lng + dLng, lat + dLat];
  }

  // A Leaflet map with the project's defaults: internal tiles when configured, else a plain grid.
  function baseMap(el, config) {
    var map = L.map(el, { zoomSnap: 0.25, attributionControl: false, scrollWheelZoom: false });
    if (config.tileUrl) L.tileLayer(config.tileUrl, { maxZoom: 19 }).addTo(map);
    else el.classList.add("map-plain");
    el.addEventListener("click", function () { map.scrollWheelZoom.enable(); }, { once: true });
    return map;
  }

  function json(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  window.Cases = {
    api: api, uuid: uuid, errorsOf: errorsOf, clearErrors: clearErrors, showErrors: showErrors,
    clearOnEdit: clearOnEdit,
    photoPicker: photoPicker, photoIds: photoIds, photosPending: photosPending,
    renderFields: renderFields, readFields: readFields, live: live, fragment: fragment,
    wgs84ToGcj02: wgs84ToGcj02, baseMap: baseMap, json: json,
  };
})();
