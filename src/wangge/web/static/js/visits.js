// The grid worker's rounds (/my/visits): tapping a due item opens its visit form (GPS check-in,
// notes, issues, an optional case) which posts to POST /api/v1/visits with a client_uuid made
// once per form, so a double tap or a retry records one visit. A recorded visit shows its
// distance (and "far"), leaves the due lists, and a patrol's count is read again. Information
// collection registers a resident (POST /api/v1/residents) and changes a phone (PATCH); errors
// are shown next to the field the API names, in the page's language, and nothing typed is lost.
(function () {
  "use strict";
  var C = window.Cases;
  var config = C.json("vis-config");
  if (!config) return;
  var text = config.text;
  var tpl = document.getElementById("vis-form-tpl");
  var lists = document.getElementById("vis-due-lists");

  function fill(template, values) {
    return String(template).replace(/\{(\w+)\}/g, function (all, key) {
      return values[key] !== undefined ? String(values[key]) : all;
    });
  }

  // A validation reason of the API as the page says it (as given when not known).
  function reasonText(reason) {
    reason = String(reason || "");
    for (var i = 0; i < config.reasons.length; i++) {
      var start = config.reasons[i][0];
      if (reason.indexOf(start) === 0) {
        var at = reason.lastIndexOf("expected ");
        var expected = at >= 0 ? reason.slice(at + 9) : "";
        return fill(config.reasons[i][1], { expected: expected });
      }
    }
    return reason;
  }

  function failure(form, res, prefixes) {
    if (!res.status) { C.showErrors(form, [], text.network_error); return; }
    var errors = C.errorsOf(res.data).map(function (e) {
      var shown = reasonText(e.reason);
      if (prefixes && prefixes[e.field]) shown = prefixes[e.field] + "：" + shown;
      return { field: e.field, reason: shown };
    });
    // Errors placed next to their fields say it all; the rest (a 403, a 500) as the API does.
    C.showErrors(form, errors, errors.length ? text.vis_fix
      : (res.data && res.data.message) || String(res.status));
  }

  // --- the visit form ---------------------------------------------------------------------------

  function locate(form) {
    var status = form.querySelector(".location-status");
    var retry = form.querySelector(".vis-locate");
    function bad(message) {
      form._location = null;
      status.textContent = message;
      status.classList.add("is-bad");
      retry.hidden = false;
    }
    if (!navigator.geolocation) { bad(text.vis_locate_unsupported); return; }
    status.classList.remove("is-bad");
    status.textContent = text.vis_locating;
    retry.hidden = true;
    navigator.geolocation.getCurrentPosition(function (pos) {
      form._location = { lng: Number(pos.coords.longitude.toFixed(7)),
                         lat: Number(pos.coords.latitude.toFixed(7)), crs: "wgs84" };
      status.textContent = fill(text.vis_located, { m: Math.round(pos.coords.accuracy || 0) });
      retry.hidden = false;
    }, function (err) {
      bad(err && err.code === 1 ? text.vis_locate_denied : text.vis_locate_failed);
    }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
  }

  function openForm(li, button) {
    var form = li.querySelector("form.vis-form");
    if (form) {
      form.hidden = !form.hidden;
      button.setAttribute("aria-expanded", String(!form.hidden));
      return;
    }
    form = tpl.content.firstElementChild.cloneNode(true);
    form.dataset.uuid = C.uuid();
    li.appendChild(form);
    button.setAttribute("aria-expanded", "true");
    C.clearOnEdit(form);
    var toggle = form.querySelector("[name=open_case]");
    toggle.addEventListener("change", function () {
      form.querySelector(".vis-case").hidden = !toggle.checked;
    });
    form.querySelector(".vis-locate").addEventListener("click", function () { locate(form); });
    locate(form);
  }

  function readVisit(form, li) {
    var body = { client_uuid: form.dataset.uuid };
    body[li.dataset.target] = Number(li.dataset.targetId);
    if (form._location) body.location = form._location;
    var notes = form.querySelector("[name=notes]").value.trim();
    if (notes) body.notes = notes;
    var issues = [];
    form.querySelectorAll("[name=issue]:checked").forEach(function (el) { issues.push(el.value); });
    var other = form.querySelector("[name=issue_other]").value.trim();
    if (other) issues.push(other);
    if (issues.length) body.issues = issues;
    var errors = [];
    if (form.querySelector("[name=open_case]").checked) {
      var found = {
        category_code: form.querySelector("[name=case_category]").value,
        title: form.querySelector("[name=case_title]").value.trim(),
        description: form.querySelector("[name=case_description]").value.trim(),
      };
      Object.keys(found).forEach(function (k) {
        if (!found[k]) errors.push({ field: "case." + k, reason: text.vis_need_case });
      });
      body.case = found;
    }
    return { body: body, errors: errors };
  }

  function distanceText(visit) {
    if (visit.distance_m === null || visit.distance_m === undefined) return text.vis_no_distance;
    return fill(text.vis_distance, { m: Math.round(visit.distance_m) });
  }

  function showResult(li, visit) {
    var box = document.getElementById("vis-recorded");
    var item = document.createElement("li");
    item.className = "vis-result" + (visit.far ? " is-far" : "");
    item.setAttribute("data-testid", "vis-result");
    var name = document.createElement("strong");
    name.textContent = li.dataset.label;
    var done = document.createElement("span");
    done.className = "vis-ok";
    done.textContent = "✓ " + text.vis_done;
    var where = document.createElement("span");
    where.className = "vis-distance";
    where.setAttribute("data-testid", "vis-distance");
    where.textContent = distanceText(visit);
    item.append(name, done, where);
    if (visit.far) {
      var far = document.createElement("span");
      far.className = "vis-far";
      far.setAttribute("data-testid", "vis-far");
      far.textContent = text.vis_far;
      item.appendChild(far);
    }
    if (visit.case_id) {
      var link = document.createElement("a");
      link.href = "/cases/" + visit.case_id;
      link.textContent = fill(text.vis_case_opened, { id: visit.case_id });
      item.appendChild(link);
    }
    box.querySelector(".vis-results").prepend(item);
    box.hidden = false;
  }

  // Everything the visit covered leaves the due lists: a household visit covers the household
  // and its members' tags, a person's visit their tags, an inspection the place.
  function removeCovered(li) {
    var key = { resident_id: "resident", household_id: "household", place_id: "place" }[li.dataset.target];
    var selector = "li.vis-item[data-" + key + '="' + li.dataset.targetId + '"]';
    var gone = Array.prototype.slice.call(lists.querySelectorAll(selector));
    if (gone.indexOf(li) < 0) gone.push(li);
    gone.forEach(function (item) {
      var card = item.closest(".vis-plan");
      var list = item.parentNode;
      item.remove();
      if (!card) return;
      var count = card.querySelector(".vis-due-count");
      if (count) {
        var n = Math.max(0, Number(count.dataset.due) - 1);
        count.dataset.due = String(n);
        count.textContent = fill(text.vis_due_count, { n: n });
      }
      if (!list.querySelector("li.vis-item")) {
        var empty = document.createElement("li");
        empty.className = "reg-empty vis-empty";
        empty.textContent = text.vis_nothing_due;
        list.appendChild(empty);
      }
    });
  }

  function showPatrol(box, done) {
    var quota = Number(box.dataset.quota);
    var label = box.querySelector(".vis-patrol-count");
    var bar = box.querySelector("progress");
    if (done === null) {
      label.textContent = fill(text.vis_quota_met, { quota: quota });
      bar.value = quota;
      box.classList.add("is-met");
      return;
    }
    box.dataset.done = String(done);
    label.textContent = fill(text.vis_patrol_count, { done: done, quota: quota });
    bar.value = Math.min(done, quota);
    box.classList.toggle("is-met", done >= quota);
  }

  // A new visit counts for the worker's patrols in its grid: counted at once, then read again.
  function patrols(grid, created) {
    lists.querySelectorAll('.vis-plan[data-kind="patrol"][data-grid="' + grid + '"]').forEach(function (card) {
      var box = card.querySelector(".vis-patrol");
      if (!box) return;
      if (created && box.dataset.done !== "") showPatrol(box, Number(box.dataset.done) + 1);
      var url = "/api/v1/visit-plans/" + card.dataset.plan + "/due?limit=500&region=" + grid;
      C.api("GET", url).then(function (res) {
        if (!res.ok) return;
        var posts = config.posts[grid] || [];
        var mine = (res.data.items || []).filter(function (i) {
          return posts.indexOf(i.post) >= 0 && (!config.person || i.label === config.person);
        });
        showPatrol(box, mine.length ? mine[0].done : null);
      });
    });
  }

  function submitVisit(form) {
    var li = form.closest("li.vis-item");
    C.clearErrors(form);
    var data = readVisit(form, li);
    if (data.errors.length) { C.showErrors(form, data.errors, text.vis_fix); return; }
    var button = form.querySelector("[type=submit]");
    if (button.disabled) return;
    button.disabled = true;
    button.textContent = text.vis_sending;
    C.api("POST", "/api/v1/visits", data.body).then(function (res) {
      button.disabled = false;
      button.textContent = text.vis_submit;
      if (res.ok) {
        showResult(li, res.data);
        patrols(res.data.region_code, res.status === 201);
        removeCovered(li);
        return;
      }
      if (res.status === 409 && res.data && res.data.field === "client_uuid") {
        C.showErrors(form, [], text.vis_conflict_uuid);
        return;
      }
      failure(form, res);
    });
  }

  if (lists) {
    lists.addEventListener("click", function (e) {
      var button = e.target.closest && e.target.closest("button.vis-open");
      if (button) openForm(button.closest("li.vis-item"), button);
    });
    lists.addEventListener("submit", function (e) {
      var form = e.target.closest && e.target.closest("form.vis-form");
      if (!form) return;
      e.preventDefault();
      submitVisit(form);
    });
  }

  // --- information collection -------------------------------------------------------------------

  var prefixes = { id_number: text["reg_invalid.id_number"], phone: text["reg_invalid.phone"] };

  function ok(form, message, href) {
    var box = form.querySelector(".col-ok");
    box.textContent = message + " ";
    if (href) {
      var a = document.createElement("a");
      a.href = href;
      a.textContent = "›";
      box.appendChild(a);
    }
    box.hidden = false;
  }

  var add = document.getElementById("col-add");
  if (add) {
    add.dataset.uuid = C.uuid();
    C.clearOnEdit(add);
    var household = add.querySelector("[name=household_id]");
    var grid = add.querySelector("[name=grid_code]");
    household.addEventListener("change", function () {
      var option = household.selectedOptions[0];
      if (option && option.dataset.grid && grid.tagName === "SELECT") grid.value = option.dataset.grid;
    });
    add.addEventListener("input", function () { add.querySelector(".col-ok").hidden = true; });
    add.addEventListener("submit", function (e) {
      e.preventDefault();
      C.clearErrors(add);
      var value = function (name) { return add.querySelector("[name=" + name + "]").value.trim(); };
      var body = { client_uuid: add.dataset.uuid, grid_code: value("grid_code"), name: value("name"),
                   population_type: value("population_type") };
      if (!body.name) { C.showErrors(add, [{ field: "name", reason: text.col_need_name }], text.vis_fix); return; }
      ["id_number", "phone", "relation"].forEach(function (k) { if (value(k)) body[k] = value(k); });
      if (value("household_id")) body.household_id = Number(value("household_id"));
      var button = add.querySelector("[type=submit]");
      if (button.disabled) return;
      button.disabled = true;
      C.api("POST", "/api/v1/residents", body).then(function (res) {
        button.disabled = false;
        if (res.ok) {
          ok(add, fill(text.col_saved, { name: res.data.name }), "/registry/residents/" + res.data.id);
          ["name", "id_number", "phone"].forEach(function (k) { add.querySelector("[name=" + k + "]").value = ""; });
          add.querySelector("[name=relation]").value = "";
          add.dataset.uuid = C.uuid();
          return;
        }
        if (res.status === 409 && res.data && res.data.field === "id_number") {
          C.showErrors(add, [{ field: "id_number", reason: text.col_duplicate }], text.vis_fix);
          return;
        }
        failure(add, res, prefixes);
      });
    });
  }

  var change = document.getElementById("col-phone");
  if (change) {
    C.clearOnEdit(change);
    var matches = change.querySelector(".col-matches");
    var chosen = change.querySelector(".col-chosen");
    var q = change.querySelector("[name=q]");
    var find = function () {
      C.clearErrors(change);
      change.querySelector(".col-ok").hidden = true;
      var name = q.value.trim();
      if (!name) return;
      matches.textContent = text.col_searching;
      var url = "/api/v1/residents?limit=10&q=" + encodeURIComponent(name) +
        (config.grids.length === 1 ? "&grid=" + config.grids[0] : "");
      C.api("GET", url).then(function (res) {
        matches.textContent = "";
        if (!res.ok) { failure(change, res); return; }
        if (!res.data.items.length) {
          var none = document.createElement("li");
          none.className = "muted";
          none.textContent = text.col_no_match;
          matches.appendChild(none);
          return;
        }
        res.data.items.forEach(function (r) {
          var li = document.createElement("li");
          var b = document.createElement("button");
          b.type = "button";
          b.className = "col-match";
          b.setAttribute("data-testid", "col-match");
          b.dataset.id = String(r.id);
          b.dataset.version = String(r.version);
          b.textContent = r.name + (r.phone ? " · " + r.phone : "") + (r.id_number ? " · " + r.id_number : "");
          li.appendChild(b);
          matches.appendChild(li);
        });
      });
    };
    change.querySelector(".col-find").addEventListener("click", find);
    q.addEventListener("keydown", function (e) { if (e.key === "Enter") { e.preventDefault(); find(); } });
    matches.addEventListener("click", function (e) {
      var b = e.target.closest && e.target.closest("button.col-match");
      if (!b) return;
      matches.querySelectorAll(".is-chosen").forEach(function (x) { x.classList.remove("is-chosen"); });
      b.classList.add("is-chosen");
      change.dataset.id = b.dataset.id;
      change.dataset.version = b.dataset.version;
      change.querySelector(".col-who").textContent = fill(text.col_choose, { who: b.textContent });
      chosen.hidden = false;
      change.querySelector("[name=new_phone]").focus();
    });
    change.addEventListener("submit", function (e) {
      e.preventDefault();
      C.clearErrors(change);
      if (!change.dataset.id) return;
      var phone = change.querySelector("[name=new_phone]").value.trim();
      if (!phone) { C.showErrors(change, [{ field: "phone", reason: text.col_need_phone }], text.vis_fix); return; }
      var button = change.querySelector("[type=submit]");
      if (button.disabled) return;
      button.disabled = true;
      C.api("PATCH", "/api/v1/residents/" + change.dataset.id,
            { version: Number(change.dataset.version), phone: phone }).then(function (res) {
        button.disabled = false;
        if (res.ok) {
          change.dataset.version = String(res.data.version);
          ok(change, fill(text.col_phone_saved, { name: res.data.name }), "/registry/residents/" + res.data.id);
          change.querySelector("[name=new_phone]").value = "";
          return;
        }
        if (res.status === 409) { C.showErrors(change, [], text.col_stale); return; }
        failure(change, res, prefixes);
      });
    });
  }
})();
