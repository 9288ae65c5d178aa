// My directives (the unit's phone page): acknowledge (签收) and report back (反馈) through
// POST /api/v1/assignments/{id}/actions/{action}; the feedback form is the directive's schema,
// drawn by the server. The list refreshes itself (debounced) on directive and assignment events,
// keeping a feedback form someone is filling in.
(function () {
  "use strict";
  var C = window.Cases;
  var config = C.json("live-config");
  var box = document.getElementById("my-results");
  if (!config || !box) return;
  var text = config.text;
  var timer = null, busy = false, again = false;

  function bindPhotos(root) {
    root.querySelectorAll("input[type=file]:not([data-bound])").forEach(function (input) {
      input.dataset.bound = "1";
      var holder = input.closest(".field");
      var form = input.closest("form");
      C.photoPicker(input, holder.querySelector(".photo-list"), text, function (message) {
        C.showErrors(form, [], message);
      });
    });
    root.querySelectorAll("form.my-form:not([data-bound])").forEach(function (form) {
      form.dataset.bound = "1";
      C.clearOnEdit(form);
      form.addEventListener("input", function () { form.dataset.dirty = "1"; });
      form.addEventListener("change", function () { form.dataset.dirty = "1"; });
    });
  }

  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    C.fragment(box.dataset.refresh)
      .then(function (html) {
        if (!html) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("my-list");
        var old = document.getElementById("my-list");
        if (!fresh || !old) return;
        // A form being filled in survives while its assignment has not changed.
        fresh.querySelectorAll("li[data-id]").forEach(function (li) {
          var mine = old.querySelector('li[data-id="' + li.dataset.id + '"]');
          var form = mine && mine.querySelector("form.my-form[data-dirty]");
          if (form && mine.dataset.version === li.dataset.version) li.replaceWith(mine);
        });
        old.replaceWith(document.importNode(fresh, true));
        var rest = doc.querySelector("#my-list ~ p");
        box.querySelectorAll("#my-list ~ p").forEach(function (p) { p.remove(); });
        if (rest) box.appendChild(document.importNode(rest, true));
        bindPhotos(box);
        box.dataset.refreshed = String(Number(box.dataset.refreshed || "0") + 1);
      })
      .catch(function () { /* the next event retries */ })
      .then(function () {
        busy = false;
        if (again) { again = false; refresh(); }
      });
  }

  function soon(delay) {
    clearTimeout(timer);
    timer = setTimeout(refresh, delay === undefined ? 300 : delay);
  }

  function act(li, action, body, form, button) {
    body.version = Number(li.dataset.version);
    var label = button.textContent;
    button.disabled = true;
    if (action === "complete") button.textContent = text.my_sending;
    return C.api("POST", "/api/v1/assignments/" + li.dataset.id + "/actions/" + action, body)
      .then(function (res) {
        if (res.ok) {
          li.dataset.version = String(res.data.version);
          if (form) delete form.dataset.dirty;
          soon(0);
          return;
        }
        button.disabled = false;
        button.textContent = label;
        var target = form || li;
        if (res.status === 409) {
          if (form) C.showErrors(form, [], text.my_conflict);
          if (form) delete form.dataset.dirty;
          soon(800);
          return;
        }
        var message = res.status ? (res.data && res.data.message) || String(res.status)
          : text.network_error;
        if (form) C.showErrors(form, C.errorsOf(res.data), message);
        else target.setAttribute("data-error", message);
      });
  }

  function read(form) {
    var feedback = {}, photos = [], errors = [];
    form.querySelectorAll("[data-name]").forEach(function (el) {
      var name = el.dataset.name, kind = el.dataset.kind, value;
      if (kind === "boolean") {
        var checked = el.querySelector("input:checked");
        if (checked) value = checked.value === "true";
      } else if (kind === "photo") {
        var ids = C.photoIds(el.querySelector(".photo-list"));
        if (ids.length) { value = ids; photos = photos.concat(ids); }
      } else {
        var input = el.querySelector("input, textarea");
        var raw = input.value.trim();
        if (raw !== "") {
          if (kind === "number" || kind === "integer") {
            value = Number(raw);
            if (isNaN(value)) { errors.push({ field: el.dataset.field, reason: raw }); return; }
          } else value = raw;
        }
      }
      if (value === undefined) {
        if (el.dataset.required) errors.push({ field: el.dataset.field, reason: text.report_need_text });
        return;
      }
      feedback[name] = value;
    });
    var extra = form.querySelector("input[data-photos]");
    if (extra) photos = photos.concat(C.photoIds(extra.closest(".field").querySelector(".photo-list")));
    var note = form.querySelector("[name=note]").value.trim();
    return { feedback: feedback, photos: photos, note: note, errors: errors };
  }

  box.addEventListener("click", function (e) {
    var button = e.target.closest && e.target.closest("button[data-act]");
    if (!button) return;
    act(button.closest("li[data-id]"), button.dataset.act, {}, null, button);
  });

  box.addEventListener("submit", function (e) {
    var form = e.target.closest && e.target.closest("form.my-form");
    if (!form) return;
    e.preventDefault();
    C.clearErrors(form);
    var pending = Array.prototype.some.call(form.querySelectorAll(".photo-list"), C.photosPending);
    if (pending) { C.showErrors(form, [], text.report_photo_uploading); return; }
    var data = read(form);
    if (data.errors.length) { C.showErrors(form, data.errors, text.report_fix); return; }
    var body = { feedback: data.feedback, photos: data.photos };
    if (data.note) body.note = data.note;
    act(form.closest("li[data-id]"), "complete", body, form, form.querySelector("[type=submit]"));
  });

  bindPhotos(box);
  C.live(config, function () { soon(); });
})();
