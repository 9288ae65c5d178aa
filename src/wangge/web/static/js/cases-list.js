// The queue and the task list refresh themselves when a case event arrives on the stream:
// the results fragment is fetched again (debounced) and cases not shown before are marked new.
(function () {
  "use strict";
  var C = window.Cases;
  var config = C.json("live-config");
  var box = document.getElementById("case-results");
  if (!config || !box) return;
  var timer = null, busy = false, again = false;

  function ids() {
    return Array.prototype.map.call(box.querySelectorAll("[data-id]"), function (el) {
      return el.dataset.id + ":" + el.dataset.version;
    });
  }

  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    var before = ids();
    C.fragment(box.dataset.refresh)
      .then(function (html) {
        if (html === null || html === undefined) return;
        box.innerHTML = html;
        if (window.htmx) window.htmx.process(box);
        box.querySelectorAll("[data-id]").forEach(function (el) {
          if (before.indexOf(el.dataset.id + ":" + el.dataset.version) < 0) el.classList.add("is-new");
        });
        box.dataset.refreshed = String(Number(box.dataset.refreshed || "0") + 1);
      })
      .catch(function () { /* the next event retries */ })
      .then(function () {
        busy = false;
        if (again) { again = false; refresh(); }
      });
  }

  C.live(config, function () {
    clearTimeout(timer);
    timer = setTimeout(refresh, 250);
  });
})();
