// The report page: category chips, photos uploaded as they are chosen, a pin on a map of the
// reporter's grids (or the phone's position, or a picked grid), the category's extra fields,
// and one idempotent POST /api/v1/cases per draft (client_uuid kept across retries).
(function () {
  "use strict";
  var C = window.Cases;
  var config = C.json("report-config");
  var text = config.text;
  var form = document.getElementById("report-form");
  var submit = document.getElementById("report-submit");
  var mapEl = document.getElementById("report-map");
  var locStatus = document.getElementById("location-status");
  var gridSelect = document.getElementById("grid-select");
  var fieldsBox = document.getElementById("schema-fields");
  var moreFields = document.getElementById("more-fields");
  var selfHandled = document.getElementById("self-handled");
  var evidence = document.getElementById("evidence-field");
  var photoList = document.getElementById("photo-list");
  var draftId = C.uuid();
  var point = null; // {lng, lat, crs} in the map's coordinate system

  // --- category: a top chip, then (when it has children) a child chip -----------------------
  function currentCategory() {
    var top = form.querySelector('input[name="top"]:checked');
    if (!top) return null;
    var child = form.querySelector('input[name="child-' + top.value + '"]:checked');
    return child ? child.value : top.value;
  }
  function onCategory() {
    var top = form.querySelector('input[name="top"]:checked');
    form.querySelectorAll(".subcats").forEach(function (el) {
      el.hidden = !top || el.dataset.parent !== top.value;
    });
    var code = currentCategory();
    var cat = code && config.categories[code];
    var n = cat ? C.renderFields(fieldsBox, cat.schema, config, null, text) : 0;
    moreFields.hidden = n === 0;
    form.dataset.category = code || "";
  }
  form.addEventListener("change", function (e) {
    if (e.target.name === "top" || e.target.name.indexOf("child-") === 0) onCategory();
  });

  // --- self-handled: evidence is required then --------------------------------------------
  selfHandled.addEventListener("change", function () { evidence.hidden = !selfHandled.checked; });

  // --- photos ------------------------------------------------------------------------------
  C.photoPicker(document.getElementById("photo-input"), photoList, text, function (message) {
    C.showErrors(form, [{ field: "photos", reason: message }]);
  });

  // --- location ----------------------------------------------------------------------------
  var map = null, marker = null, located = 0;
  function inMyAreas(code) {
    return config.areas.some(function (a) { return code.indexOf(a.code) === 0; });
  }
  function describe() {
    if (!point) return;
    var ask = ++located;
    var url = "/api/v1/grids/locate?lng=" + point.lng + "&lat=" + point.lat + "&crs=" + point.crs;
    C.api("GET", url).then(function (res) {
      if (ask !== located) return;
      if (res.ok && inMyAreas(res.data.code)) {
        var where = (res.data.village ? res.data.village.name + " " : "") + res.data.name;
        locStatus.textContent = text.report_in_grid.replace("{name}", where);
        locStatus.dataset.grid = res.data.code;
        locStatus.classList.remove("is-bad");
        if (gridSelect && gridSelect.querySelector('option[value="' + res.data.code + '"]')) {
          gridSelect.value = res.data.code;
        }
      } else {
        locStatus.textContent = res.status === 0 ? text.network_error : text.report_outside;
        locStatus.dataset.grid = "";
        locStatus.classList.add("is-bad");
      }
    });
  }
  function place(latlng, pan) {
    point = { lng: Number(latlng.lng.toFixed(7)), lat: Number(latlng.lat.toFixed(7)),
              crs: config.crs };
    if (map) {
      if (!marker) {
        marker = L.marker(latlng, { draggable: true, autoPan: true }).addTo(map);
        marker.on("dragend", function () { place(marker.getLatLng(), false); });
      } else {
        marker.setLatLng(latlng);
      }
      // Keep the view when the point is already on it; else go there, close enough to see.
      if (pan && !map.getBounds().contains(latlng)) {
        map.setView(latlng, Math.max(map.getZoom(), 15), { animate: false });
      }
    }
    mapEl.dataset.pinned = "1";
    var block = mapEl.closest(".has-error");
    if (block) {
      block.classList.remove("has-error");
      block.querySelectorAll(".field-error").forEach(function (el) { el.remove(); });
      if (!form.querySelector(".has-error")) document.getElementById("report-error").hidden = true;
    }
    describe();
  }
  if (mapEl && typeof L !== "undefined") {
    map = C.baseMap(mapEl, config);
    map.setView([35.3, 113.9], 9); // until the areas have loaded
    map.on("click", function (e) { place(e.latlng, false); });
    Promise.all(config.areas.map(function (a) {
      return fetch(a.url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : { features: [] }; });
    })).then(function (collections) {
      var bounds = L.latLngBounds([]);
      collections.forEach(function (fc) {
        fc.features.forEach(function (f) {
          var own = f.properties.self;
          var layer = L.geoJSON(f, {
            interactive: false,
            style: { className: "report-area level-" + f.properties.level + " code-" + f.properties.code,
                     color: own ? "#0f172a" : "#6d3fd1", weight: own ? 2.5 : 1,
                     fillColor: "#6d3fd1", fillOpacity: own ? 0.12 : 0.08 },
          }).addTo(map);
          bounds.extend(layer.getBounds());
        });
      });
      if (bounds.isValid()) map.fitBounds(bounds, { padding: [10, 10], animate: false });
      mapEl.dataset.ready = "1";
    }).catch(function () {
      locStatus.textContent = text.map_failed;
      mapEl.dataset.ready = "error";
    });
  }
  document.getElementById("use-location").addEventListener("click", function () {
    if (!navigator.geolocation) { locStatus.textContent = text.report_locate_failed; return; }
    locStatus.textContent = text.report_locating;
    navigator.geolocation.getCurrentPosition(function (pos) {
      var lng = pos.coords.longitude, lat = pos.coords.latitude;
      if (config.crs === "gcj02") {
        var g = C.wgs84ToGcj02(lng, lat);
        lng = g[0]; lat = g[1];
      }
      place(typeof L !== "undefined" ? L.latLng(lat, lng) : { lng: lng, lat: lat }, true);
    }, function () {
      locStatus.textContent = text.report_locate_failed;
    }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
  });

  // --- submit ------------------------------------------------------------------------------
  function value(name) {
    var el = form.elements.namedItem(name);
    return el && "value" in el ? String(el.value).trim() : "";
  }
  function check(body) {
    var errors = [];
    if (!body.category_code) errors.push({ field: "category_code", reason: text.report_need_category });
    if (!body.title) errors.push({ field: "title", reason: text.report_need_text });
    if (!body.description) errors.push({ field: "description", reason: text.report_need_text });
    if (!body.location && !body.grid_code) errors.push({ field: "location", reason: text.report_need_location });
    if (body.self_handled && !body.evidence.note) errors.push({ field: "evidence", reason: text.report_need_text });
    return errors;
  }
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    if (submit.disabled) return;
    C.clearErrors(form);
    var body = {
      client_uuid: draftId, category_code: currentCategory() || "", title: value("title"),
      description: value("description"), photos: C.photoIds(photoList),
      fields: C.readFields(fieldsBox), self_handled: selfHandled.checked,
    };
    if (point) body.location = point;
    if (gridSelect && gridSelect.value) body.grid_code = gridSelect.value;
    if (value("address")) body.address = value("address");
    if (body.self_handled) body.evidence = { note: value("evidence"), photos: [] };
    var errors = check(body);
    if (C.photosPending(photoList)) errors.push({ field: "photos", reason: text.report_photo_uploading });
    if (errors.length) { C.showErrors(form, errors, text.report_fix); return; }
    submit.disabled = true;
    submit.textContent = text.report_submitting;
    C.api("POST", "/api/v1/cases", body).then(function (res) {
      if (res.ok) {
        window.location.assign("/cases/" + res.data.id + "?reported=1");
        return;
      }
      submit.disabled = false;
      submit.textContent = text.report_submit;
      if (res.status === 0) { C.showErrors(form, [], text.report_retry); return; }
      if (res.status === 409) {
        // This draft's id already made a case with other content: start a new draft.
        draftId = C.uuid();
        C.showErrors(form, [], (res.data && res.data.message) || String(res.status));
        return;
      }
      C.showErrors(form, C.errorsOf(res.data), text.report_fix);
    });
  });

  C.clearOnEdit(form);
  onCategory();
})();
