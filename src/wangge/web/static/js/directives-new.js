// The issue form: a region tree (ticking a region sends to every grid in it; deeper levels load
// from /api/v1/regions/{code}/children), "every unit of level L under R" rules, a feedback form
// builder (→ JSON Schema), a live count from POST /api/v1/directives/preview, and the POST that
// issues it (idempotent: the same draft submitted twice is one directive).
(function () {
  "use strict";
  var C = window.Cases;
  var config = C.json("issue-config");
  var form = document.getElementById("issue-form");
  if (!config || !form) return;
  var text = config.text;
  var tree = document.getElementById("target-tree");
  var chosen = document.getElementById("chosen");
  var preview = document.getElementById("preview");
  var fields = document.getElementById("fb-fields");
  var draft = C.uuid();
  var rules = [];  // {level, under, name}

  function format(template, values) {
    return String(template).replace(/\{(\w+)\}/g, function (_, k) {
      return values[k] === undefined ? "" : String(values[k]);
    });
  }

  // --- the tree ------------------------------------------------------------------------------
  function ticked() {
    // Ticked regions not inside another ticked region.
    var boxes = Array.prototype.filter.call(tree.querySelectorAll("input[type=checkbox]"),
                                            function (b) { return b.checked && !b.disabled; });
    return boxes.map(function (b) { return { code: b.value, name: b.dataset.name }; });
  }

  function cover(node, on) {
    // A ticked region stands for its descendants: they show ticked and cannot be changed.
    node.querySelectorAll(":scope > ul input[type=checkbox]").forEach(function (b) {
      b.disabled = on;
      if (on) b.checked = true;
      else b.checked = false;
    });
  }

  function nodeHtml(c) {
    var li = document.createElement("li");
    li.className = "tree-node";
    li.dataset.code = c.code;
    li.dataset.loaded = "0";
    var row = document.createElement("div");
    row.className = "tree-row";
    if (c.level !== "grid") {
      var toggle = document.createElement("button");
      toggle.type = "button";
      toggle.className = "tree-toggle";
      toggle.setAttribute("aria-expanded", "false");
      toggle.setAttribute("aria-label", format(text.issue_expand, { name: c.name }));
      toggle.dataset.testid = "expand-" + c.code;
      toggle.setAttribute("data-testid", "expand-" + c.code);
      toggle.textContent = "▸";
      row.appendChild(toggle);
    } else {
      var space = document.createElement("span");
      space.className = "tree-toggle-space";
      row.appendChild(space);
    }
    var label = document.createElement("label");
    label.className = "check";
    var box = document.createElement("input");
    box.type = "checkbox";
    box.value = c.code;
    box.dataset.name = c.name;
    box.setAttribute("data-testid", "target-" + c.code);
    label.append(box, document.createTextNode(" " + c.name + " "));
    if (c.level !== "grid" && c.counts) {
      var count = document.createElement("span");
      count.className = "tree-count muted";
      count.textContent = c.counts.grid + " " + config.counts.grid;
      label.appendChild(count);
    }
    row.appendChild(label);
    li.appendChild(row);
    return li;
  }

  function expand(li, button) {
    var open = button.getAttribute("aria-expanded") === "true";
    var list = li.querySelector(":scope > ul");
    if (open) {
      button.setAttribute("aria-expanded", "false");
      button.textContent = "▸";
      if (list) list.hidden = true;
      return;
    }
    button.setAttribute("aria-expanded", "true");
    button.textContent = "▾";
    if (list) { list.hidden = false; return; }
    button.disabled = true;
    fetch("/api/v1/regions/" + li.dataset.code + "/children",
          { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : []; })
      .then(function (children) {
        var ul = document.createElement("ul");
        ul.className = "tree-children";
        children.forEach(function (c) { ul.appendChild(nodeHtml(c)); });
        li.appendChild(ul);
        li.dataset.loaded = "1";
        var own = li.querySelector(":scope > .tree-row input[type=checkbox]");
        if (own && own.checked) cover(li, true);
      })
      .catch(function () { button.setAttribute("aria-expanded", "false"); button.textContent = "▸"; })
      .then(function () { button.disabled = false; });
  }

  tree.addEventListener("click", function (e) {
    var button = e.target.closest && e.target.closest(".tree-toggle");
    if (button) expand(button.closest(".tree-node"), button);
  });
  tree.addEventListener("change", function (e) {
    if (e.target.type !== "checkbox") return;
    cover(e.target.closest(".tree-node"), e.target.checked);
    changed();
  });

  // --- level rules -----------------------------------------------------------------------------
  document.getElementById("rule-add").addEventListener("click", function () {
    var level = document.getElementById("rule-level").value;
    var under = document.getElementById("rule-under");
    var option = under.options[under.selectedIndex];
    if (!level || !option) return;
    if (rules.some(function (r) { return r.level === level && r.under === option.value; })) return;
    rules.push({ level: level, under: option.value, name: option.dataset.name });
    changed();
  });

  // --- what is chosen, and how many units it reaches --------------------------------------------
  function targets() {
    var out = ticked().map(function (r) { return { subtree: r.code }; });
    rules.forEach(function (r) { out.push({ level: r.level, under: r.under }); });
    return out;
  }

  function chip(label, onRemove, testid) {
    var li = document.createElement("li");
    li.className = "chosen-item";
    li.setAttribute("data-testid", testid);
    var span = document.createElement("span");
    span.textContent = label;
    var remove = document.createElement("button");
    remove.type = "button";
    remove.className = "chosen-remove";
    remove.setAttribute("aria-label", text.issue_remove + " " + label);
    remove.textContent = "×";
    remove.addEventListener("click", onRemove);
    li.append(span, remove);
    return li;
  }

  function drawChosen() {
    chosen.textContent = "";
    ticked().forEach(function (r) {
      chosen.appendChild(chip(format(text.issue_all_grids, { name: r.name }), function () {
        var box = tree.querySelector('input[type=checkbox][value="' + r.code + '"]');
        if (box) { box.checked = false; cover(box.closest(".tree-node"), false); }
        changed();
      }, "chosen-subtree"));
    });
    rules.forEach(function (r, i) {
      chosen.appendChild(chip(format(text.issue_level_under, { name: r.name,
        level: config.levels[r.level] }), function () { rules.splice(i, 1); changed(); },
        "chosen-level"));
    });
    if (!chosen.children.length) {
      var none = document.createElement("li");
      none.className = "chosen-none muted";
      none.textContent = text.issue_none_chosen;
      chosen.appendChild(none);
    }
  }

  var previewTimer = null, previewSeq = 0;
  function countUnits() {
    var list = targets();
    var seq = ++previewSeq;
    if (!list.length) {
      preview.textContent = text.issue_preview_wait;
      preview.dataset.total = "";
      preview.classList.remove("has-count");
      return;
    }
    preview.textContent = text.issue_preview_counting;
    C.api("POST", "/api/v1/directives/preview", { targets: list }).then(function (res) {
      if (seq !== previewSeq) return;
      if (!res.ok) {
        preview.textContent = (res.data && res.data.message) || text.network_error;
        preview.dataset.total = "";
        return;
      }
      var parts = res.data.by_level.map(function (b) {
        return config.counts[b.level] + " " + b.count;
      });
      preview.textContent = format(text.issue_preview, { n: res.data.total }) +
        (parts.length > 1 ? "（" + parts.join("，") + "）" : "");
      preview.dataset.total = String(res.data.total);
      preview.classList.add("has-count");
    });
  }

  function changed() {
    drawChosen();
    clearTimeout(previewTimer);
    previewTimer = setTimeout(countUnits, 250);
  }
  drawChosen();

  // --- the feedback form builder ----------------------------------------------------------------
  var fieldSeq = 0;
  document.getElementById("fb-add").addEventListener("click", function () {
    fieldSeq += 1;
    var li = document.createElement("li");
    li.className = "fb-field";
    li.dataset.field = "feedback_schema.f" + fieldSeq;
    li.setAttribute("data-testid", "fb-field");
    var label = document.createElement("label");
    label.className = "field fb-label";
    var caption = document.createElement("span");
    caption.textContent = text.issue_field_label;
    var input = document.createElement("input");
    input.type = "text";
    input.maxLength = 40;
    input.name = "fb-label";
    label.append(caption, input);
    var typeLabel = document.createElement("label");
    typeLabel.className = "field fb-type";
    var typeCaption = document.createElement("span");
    typeCaption.textContent = text.issue_field_type;
    var select = document.createElement("select");
    select.name = "fb-type";
    config.fieldTypes.forEach(function (ft) { select.appendChild(new Option(text["ftype." + ft], ft)); });
    typeLabel.append(typeCaption, select);
    var req = document.createElement("label");
    req.className = "check fb-required";
    var box = document.createElement("input");
    box.type = "checkbox";
    box.name = "fb-required";
    req.append(box, document.createTextNode(" " + text.issue_field_required));
    var remove = document.createElement("button");
    remove.type = "button";
    remove.className = "fb-remove";
    remove.textContent = "×";
    remove.title = text.issue_field_remove;
    remove.setAttribute("aria-label", text.issue_field_remove);
    remove.addEventListener("click", function () { li.remove(); });
    var slot = document.createElement("span");
    slot.className = "error-slot";
    li.append(label, typeLabel, req, remove, slot);
    fields.appendChild(li);
    input.focus();
  });

  function schema() {
    var properties = {}, required = [];
    fields.querySelectorAll("li.fb-field").forEach(function (li, i) {
      var name = "f" + (i + 1);
      var title = li.querySelector("[name=fb-label]").value.trim();
      var type = li.querySelector("[name=fb-type]").value;
      var prop = { title: title };
      if (type === "number") prop.type = "number";
      else if (type === "boolean") prop.type = "boolean";
      else if (type === "photo") {
        prop.type = "array"; prop.items = { type: "integer" }; prop["x-widget"] = "photo";
        prop.maxItems = 20;
      } else { prop.type = "string"; prop.maxLength = 2000; }
      if (li.querySelector("[name=fb-required]").checked) {
        required.push(name);
        if (type === "photo") prop.minItems = 1;
        if (type === "text") prop.minLength = 1;
      }
      li.dataset.field = "feedback_schema.properties." + name;
      properties[name] = prop;
    });
    var out = { type: "object", properties: properties, additionalProperties: false };
    if (required.length) out.required = required;
    return out;
  }

  // --- submit ----------------------------------------------------------------------------------
  function local(value) {
    // The form's times are Beijing time.
    return value ? value + (value.length === 16 ? ":00" : "") + "+08:00" : null;
  }

  function check() {
    var errors = [];
    ["title", "body"].forEach(function (name) {
      if (!form.elements[name].value.trim()) errors.push({ field: name, reason: text.report_need_text });
    });
    fields.querySelectorAll("li.fb-field").forEach(function (li, i) {
      if (!li.querySelector("[name=fb-label]").value.trim()) {
        errors.push({ field: "feedback_schema.properties.f" + (i + 1), reason: text.issue_need_label });
      }
    });
    if (!targets().length) errors.push({ field: "targets", reason: text.issue_need_targets });
    return errors;
  }

  var submit = form.querySelector("[type=submit]");
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    C.clearErrors(form);
    var body = {
      client_uuid: draft,
      title: form.elements.title.value.trim(),
      body: form.elements.body.value.trim(),
      kind: form.querySelector("[name=kind]:checked").value,
      priority: form.querySelector("[name=priority]:checked").value,
      targets: targets(),
      feedback_schema: schema(),
    };
    var ack = local(form.elements.ack_due_at.value), due = local(form.elements.due_at.value);
    if (ack) body.ack_due_at = ack;
    if (due) body.due_at = due;
    var errors = check();
    if (errors.length) { C.showErrors(form, errors, text.report_fix); return; }
    submit.disabled = true;
    submit.textContent = text.issue_submitting;
    C.api("POST", "/api/v1/directives", body).then(function (res) {
      if (res.ok) {
        window.location.assign("/command/" + res.data.region_code + "?directive=" + res.data.id);
        return;
      }
      submit.disabled = false;
      submit.textContent = text.issue_submit;
      if (res.status === 0) { C.showErrors(form, [], text.report_retry); return; }
      var list = C.errorsOf(res.data).map(function (err) {
        // "targets.0.subtree" is shown at the recipients.
        return { field: err.field.indexOf("targets") === 0 ? "targets" : err.field, reason: err.reason };
      });
      C.showErrors(form, list, (res.data && res.data.message) || text.network_error);
    });
  });
  C.clearOnEdit(form);
})();
