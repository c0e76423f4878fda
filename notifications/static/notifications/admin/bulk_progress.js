// Live progress of running bulk sends on their admin pages: polls each
// running send's progress view and updates its bar, status and outcomes in
// place; stops once the send has settled (notifications/admin_bulk.py).
(function () {
  "use strict";
  var PERIOD_MS = 2000;

  function each(selector, apply) {
    document.querySelectorAll(selector).forEach(apply);
  }

  function show(box, data) {
    var id = box.dataset.bulkId;
    var bar = box.querySelector("progress");
    if (data.total !== undefined) {
      bar.max = Math.max(data.total, 1);
      bar.value = data.settled;
      bar.nextSibling.textContent = " " + data.summary;
    }
    each('[data-bulk-status="' + id + '"]', function (el) { el.textContent = data.status; });
    each('[data-bulk-outcomes="' + id + '"]', function (el) { el.textContent = data.outcomes; });
    if (!data.running) {
      box.dataset.running = "0";
      each('[data-bulk-cancel="' + id + '"]', function (el) { el.remove(); });
    }
  }

  function poll(box) {
    fetch(box.dataset.progressUrl, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (!response.ok) { throw new Error("progress " + response.status); }
        return response.json();
      })
      .then(function (data) {
        show(box, data);
        if (data.running) { setTimeout(function () { poll(box); }, PERIOD_MS); }
      })
      // A failed poll (server restarting, session over): try again, slower.
      .catch(function () { setTimeout(function () { poll(box); }, PERIOD_MS * 5); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    each('.bulk-progress[data-running="1"]', function (box) {
      setTimeout(function () { poll(box); }, PERIOD_MS);
    });
  });
})();
