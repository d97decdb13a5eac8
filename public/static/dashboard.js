/*
 * otpgate dashboard: the templates page's live preview. While a template is typed, the
 * draft is sent (with the form's CSRF token) to the server, which renders it with sample
 * values through the same code the outbox uses, and the preview or the reason the
 * template does not compile is shown. Without this script the "Preview" button does the
 * same with a page load.
 */
(function () {
  "use strict";
  var form = document.querySelector("form[data-live-preview]");
  if (!form) {
    return;
  }
  var url = form.getAttribute("data-live-preview");
  var section = document.querySelector("[data-role=preview]");
  var problem = document.querySelector("[data-role=live-error]");
  var part = function (role) {
    return section.querySelector("[data-role=" + role + "]");
  };
  var timer = null;
  var sent = 0;

  function show(answer) {
    // The reason the last page load gave is out of date once the draft changed.
    var stale = document.querySelector("[data-role=template-error]");
    if (stale) {
      stale.hidden = true;
    }
    if (answer.error) {
      problem.textContent = answer.error;
      problem.hidden = false;
      return;
    }
    problem.hidden = true;
    part("preview-subject").textContent = answer.subject || "";
    part("preview-text").textContent = answer.text || "";
    part("preview-html").textContent = answer.html || "";
    part("preview-html-part").hidden = !answer.html;
    section.hidden = false;
  }

  function refresh() {
    var mine = ++sent;
    var body = new URLSearchParams(new FormData(form));
    body.set("action", "preview");
    fetch(url, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: body.toString(),
      credentials: "same-origin",
    })
      .then(function (res) {
        return res.headers.get("content-type") === "application/json" ? res.json() : null;
      })
      .then(function (answer) {
        // Only the answer to the latest draft is shown.
        if (answer && mine === sent) {
          show(answer);
        }
      })
      .catch(function () {});
  }

  form.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(refresh, 250);
  });
})();
