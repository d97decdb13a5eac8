/*
 * otpgate embed: opens the hosted verification page in a modal on your site.
 *
 *   <script id="otpgateway-script" src="https://otp.example.com/static/otp.js"></script>
 *   OTPGateway(namespace, id, onFinish, onCancel);
 *
 * onFinish(namespace, id) runs when the person has verified; confirm it from your backend
 * (the status API, or the verification token) before trusting it. onCancel() runs when the
 * modal is closed without a result. Compatible with otpgateway's otp.js.
 *
 * Messages are accepted only from the otpgate origin this script came from and only from
 * the modal's own frame; the page posts only to the exact origin of your site, which the
 * app must list in `embed_origins`.
 */
(function () {
  "use strict";
  if (Object.prototype.hasOwnProperty.call(window, "OTPGateway")) {
    return;
  }
  var script = document.getElementById("otpgateway-script") || document.currentScript;
  if (!script || !script.src) {
    throw new Error("otpgate: give the script tag id=\"otpgateway-script\"");
  }
  var root = new URL(script.src).origin;

  var css = document.createElement("link");
  css.rel = "stylesheet";
  css.href = root + "/static/otp.css";
  document.head.appendChild(css);

  var open = null;

  function close(cancelled) {
    if (!open) {
      return;
    }
    var current = open;
    open = null;
    window.removeEventListener("message", current.onMessage);
    document.removeEventListener("keydown", current.onKey);
    current.wrap.remove();
    if (current.previousFocus && current.previousFocus.focus) {
      current.previousFocus.focus();
    }
    if (cancelled && typeof current.onCancel === "function") {
      current.onCancel();
    }
  }

  window.OTPGateway = function (namespace, id, onFinish, onCancel) {
    close(true);
    var wrap = document.createElement("div");
    wrap.id = "otpgateway-modal-wrap";
    wrap.setAttribute("role", "dialog");
    wrap.setAttribute("aria-modal", "true");
    wrap.setAttribute("aria-label", "Verification");

    var backdrop = document.createElement("div");
    backdrop.id = "otpgateway-modal";
    var closeButton = document.createElement("button");
    closeButton.id = "otpgateway-close";
    closeButton.type = "button";
    closeButton.setAttribute("aria-label", "Close");
    closeButton.textContent = "\u00d7";
    var frame = document.createElement("iframe");
    frame.id = "otpgateway-frame";
    frame.title = "Verification";
    frame.src = root + "/otp/" + encodeURIComponent(namespace) + "/" + encodeURIComponent(id) +
      "?view=popup&origin=" + encodeURIComponent(window.location.origin);

    wrap.appendChild(backdrop);
    wrap.appendChild(closeButton);
    wrap.appendChild(frame);
    document.body.appendChild(wrap);

    function onMessage(e) {
      if (e.origin !== root || e.source !== frame.contentWindow) {
        return;
      }
      var data = e.data || {};
      if (data.namespace !== namespace || data.id !== id) {
        return;
      }
      close(false);
      if (typeof onFinish === "function") {
        onFinish(data.namespace, data.id);
      }
    }
    function onKey(e) {
      if (e.key === "Escape") {
        close(true);
      }
    }
    backdrop.addEventListener("click", function () { close(true); });
    closeButton.addEventListener("click", function () { close(true); });
    window.addEventListener("message", onMessage);
    document.addEventListener("keydown", onKey);
    open = {
      wrap: wrap,
      onMessage: onMessage,
      onKey: onKey,
      onCancel: onCancel,
      previousFocus: document.activeElement
    };
    // Focus starts on the close button, so Escape and Tab work from the first key press;
    // the next Tab enters the verification page.
    closeButton.focus();
  };
})();
