// One case: the map (its point and grid), the action forms (each POSTs to
// /api/v1/cases/{id}/actions/{action} with the version the page shows), and a reload when
// someone else changes the case.
(function () {
  "use strict";
  var C = window.Cases;
  var config = C.json("case-config");
  var text = config.text;
  var page = document.getElementById("case-page");
  var version = config.version;
  var reloading = false;
  // While our own action is in flight its event can arrive before its answer: hold live
  // reloads until the answer says what to do.
  var acting = false;
  var changedWhileActing = false;
  // "Reported" is said once: a later reload (live or after an action) shows the case only.
  if (/[?&]reported=/.test(window.location.search) && window.history.replaceState) {
    window.history.replaceState(null, "", window.location.pathname);
  }

  // --- map ---------------------------------------------------------------------------------
  var mapEl = document.getElementById("case-map");
  if (mapEl && typeof L !== "undefined") {
    var map = C.baseMap(mapEl, config);
    var bounds = L.latLngBounds([]);
    var point = config.point ? L.latLng(config.point[1], config.point[0]) : null;
    if (point) {
      L.marker(point, { interactive: false }).addTo(map);
      bounds.extend(point);
    }
    map.setView(point || [35.3, 113.9], point ? 16 : 9);
    fetch(config.gridUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.json(); })
      .then(function (fc) {
        fc.features.filter(function (f) { return f.properties.self; }).forEach(function (f) {
          var layer = L.geoJSON(f, { interactive: false, style: {
            className: "case-grid", color: "#0f172a", weight: 2, fillColor: "#6d3fd1",
            fillOpacity: 0.15 } }).addTo(map);
          bounds.extend(layer.getBounds());
        });
        if (bounds.isValid()) {
          map.fitBounds(bounds, { padding: [16, 16], maxZoom: 17, animate: false });
        }
        mapEl.dataset.ready = "1";
      })
      .catch(function () { mapEl.dataset.ready = "error"; });
  }

  // --- actions -----------------------------------------------------------------------------
  function field(form, name) {
    var el = form.elements.namedItem(name);
    if (!el) return null;
    return String(el.value).trim(); // a RadioNodeList's value is the checked radio's
  }

  function bodyOf(form) {
    var body = { version: version };
    ["note", "reason", "extra"].forEach(function (name) {
      var v = field(form, name);
      if (v) body[name] = v;
    });
    var handler = field(form, "handler");
    if (handler) {
      var i = handler.indexOf(":");
      body.handler = {};
      body.handler[handler.slice(0, i)] = handler.slice(i + 1);
    }
    var approve = field(form, "approve");
    if (approve) body.approve = approve === "true";
    var passed = field(form, "passed");
    if (passed) body.passed = passed === "true";
    var rating = field(form, "rating");
    if (rating) body.rating = Number(rating);
    var list = form.querySelector(".photo-list");
    if (list) body.photos = C.photoIds(list);
    var fields = form.querySelector(".schema-fields");
    if (fields) {
      var values = C.readFields(fields);
      if (Object.keys(values).length) body.fields = values;
    }
    return body;
  }

  function missing(form) {
    var errors = [];
    form.querySelectorAll("[required]").forEach(function (el) {
      if (!String(el.value).trim()) {
        var holder = el.closest("[data-field]");
        errors.push({ field: holder ? holder.dataset.field : el.name, reason: text.report_need_text });
      }
    });
    return errors;
  }

  var editing = false; // true while the user types into an action form
  document.querySelectorAll(".action-form").forEach(function (form) {
    var action = form.dataset.action;
    var fieldsBox = form.querySelector(".schema-fields");
    if (fieldsBox) C.renderFields(fieldsBox, config.schema, config, config.fields, text);
    var photoInput = form.querySelector(".photo-input");
    if (photoInput) {
      C.photoPicker(photoInput, form.querySelector(".photo-list"), text, function (message) {
        C.showErrors(form, [{ field: "photos", reason: message }]);
      });
    }
    form.addEventListener("input", function () { editing = true; });
    C.clearOnEdit(form);
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var button = form.querySelector('button[type="submit"]');
      if (button.disabled) return;
      C.clearErrors(form);
      var errors = missing(form);
      var list = form.querySelector(".photo-list");
      if (list && C.photosPending(list)) errors.push({ field: "photos", reason: text.report_photo_uploading });
      if (errors.length) { C.showErrors(form, errors); return; }
      button.disabled = true;
      acting = true;
      C.api("POST", "/api/v1/cases/" + config.id + "/actions/" + action, bodyOf(form))
        .then(function (res) {
          acting = false;
          if (res.ok) {
            // Our own action's event must not start a second reload over this one.
            reloading = true;
            window.location.reload();
            return;
          }
          button.disabled = false;
          if (changedWhileActing) { banner.hidden = false; }
          if (res.status === 0) { C.showErrors(form, [], text.network_error); return; }
          if (res.status === 409) {
            // Stale version or a state that no longer allows this: say so, then show the
            // case as it is now.
            C.showErrors(form, [], ((res.data && res.data.message) || "") + " " + text.case_conflict);
            reloading = true;
            setTimeout(function () { window.location.reload(); }, 1500);
            return;
          }
          if (res.status === 422) { C.showErrors(form, C.errorsOf(res.data)); return; }
          C.showErrors(form, [], (res.data && res.data.message) || String(res.status));
        });
    });
  });

  // Only one action form open at a time.
  document.querySelectorAll(".action-panel").forEach(function (panel) {
    panel.addEventListener("toggle", function () {
      if (!panel.open) return;
      document.querySelectorAll(".action-panel[open]").forEach(function (other) {
        if (other !== panel) other.open = false;
      });
    });
  });

  // --- live --------------------------------------------------------------------------------
  var banner = document.getElementById("changed-banner");
  document.getElementById("changed-reload").addEventListener("click", function () {
    window.location.reload();
  });
  function concerns(type, payload) {
    if (payload.id === config.id) return (payload.version || 0) !== version;
    return (payload.cases || []).some(function (c) { return c.id === config.id; });
  }
  C.live(config, function (type, payload) {
    if (reloading || !concerns(type, payload)) return;
    if (acting) { changedWhileActing = true; return; }
    page.dataset.stale = "1";
    if (editing) { banner.hidden = false; return; }
    window.location.reload();
  });
})();
