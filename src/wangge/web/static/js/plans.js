// The registry page's plans tab (/registry/{code}?tab=plans) for registry:plan holders: the
// new-plan form posts to POST /api/v1/visit-plans and a plan set at this region is ended with
// PATCH /api/v1/visit-plans/{id} {version, active: false}, both with the session's CSRF token.
// The API's errors are shown next to the field they name, in the page's language, and nothing
// typed is lost; on success the tab is read again.
(function () {
  "use strict";
  var C = window.Cases;
  var config = C && C.json("plan-config");
  if (!config) return;
  var text = config.text;
  var form = document.getElementById("plan-form");

  // A validation reason of the API as the page says it (as given when not known).
  function reasonText(reason) {
    reason = String(reason || "");
    for (var i = 0; i < config.reasons.length; i++) {
      if (reason.indexOf(config.reasons[i][0]) >= 0) {
        var n = /(\d+)\s*$/.exec(reason);
        return config.reasons[i][1].replace("{n}", n ? n[1] : "");
      }
    }
    return reason;
  }

  function failure(target, res) {
    if (!res.status) { C.showErrors(target, [], text.network_error); return; }
    if (res.status === 409) { C.showErrors(target, [], text.plan_stale); return; }
    var errors = C.errorsOf(res.data).map(function (e) {
      return { field: e.field, reason: reasonText(e.reason) };
    });
    var placed = errors.filter(function (e) {
      return target.querySelector('[data-field="' + e.field + '"]');
    });
    C.showErrors(target, errors, placed.length ? text.plan_fix
      : reasonText((res.data && (res.data.reason || res.data.message)) || String(res.status)));
  }

  function reload() { window.location.reload(); }

  // --- the new-plan form ----------------------------------------------------------------------

  function showKind() {
    var kind = form.elements.kind.value;
    form.querySelectorAll("[data-kinds]").forEach(function (el) {
      el.hidden = el.getAttribute("data-kinds").split(" ").indexOf(kind) < 0;
    });
    form.querySelectorAll("[data-hint-for]").forEach(function (el) {
      el.hidden = el.getAttribute("data-hint-for") !== kind;
    });
  }

  function read() {
    var kind = form.elements.kind.value;
    var body = { region_code: config.region, name: form.elements.name.value.trim(), kind: kind };
    var interval = form.elements.interval_days.value.trim();
    // A number the API checks itself (its reason shows next to the field); text as typed.
    if (interval) body.interval_days = /^-?\d+$/.test(interval) ? Number(interval) : interval;
    if (kind === "special_groups") {
      body.categories = [];
      form.querySelectorAll("[name=categories]:checked").forEach(function (el) {
        body.categories.push(el.value);
      });
    }
    if (kind === "patrol") {
      var quota = form.elements.quota.value.trim();
      if (quota) body.quota = /^-?\d+$/.test(quota) ? Number(quota) : quota;
    }
    return body;
  }

  if (form) {
    C.clearOnEdit(form);
    form.elements.kind.addEventListener("change", showKind);
    showKind();
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var button = form.querySelector("[type=submit]");
      if (button.disabled) return;
      C.clearErrors(form);
      button.disabled = true;
      button.textContent = text.plan_sending;
      C.api("POST", "/api/v1/visit-plans", read()).then(function (res) {
        if (res.ok) { button.textContent = text.plan_created; reload(); return; }
        button.disabled = false;
        button.textContent = text.plan_submit;
        failure(form, res);
      });
    });
  }

  // --- deactivating a plan set here -----------------------------------------------------------

  document.querySelectorAll(".plan-stop").forEach(function (button) {
    button.addEventListener("click", function () {
      var card = button.closest("[data-plan]");
      var name = card.querySelector(".plan-name").textContent;
      if (!window.confirm(text.plan_deactivate_confirm.replace("{name}", name))) return;
      button.disabled = true;
      C.clearErrors(card);
      C.api("PATCH", "/api/v1/visit-plans/" + card.dataset.plan,
            { version: Number(card.dataset.version), active: false }).then(function (res) {
        if (res.ok) { reload(); return; }
        button.disabled = false;
        failure(card, res);
      });
    });
  });
})();
