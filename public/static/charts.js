/*
 * otpgate dashboard: the stats page's charts show each bar's value beside the pointer.
 * The server draws the charts as SVG whose every bar carries its value (`data-value`) and
 * a `<title>` ("Mon 3 · sms: 1,204"); without this script the browser shows that title as
 * its own tooltip after a delay, and each chart's numbers are in the table under it.
 * With it, the title moves into a tooltip drawn at once, and the bar under the pointer
 * is marked.
 */
(function () {
  "use strict";
  var charts = document.querySelectorAll("figure[data-chart]");
  Array.prototype.forEach.call(charts, function (figure) {
    var tip = document.createElement("div");
    tip.setAttribute("data-role", "chart-tip");
    tip.setAttribute("aria-hidden", "true");
    tip.hidden = true;
    var s = tip.style;
    s.position = "fixed";
    s.pointerEvents = "none";
    s.zIndex = "10";
    s.padding = "2px 8px";
    s.borderRadius = "6px";
    s.font = "12px/1.5 system-ui, sans-serif";
    s.background = "#18181b";
    s.color = "#fff";
    s.whiteSpace = "nowrap";
    figure.appendChild(tip);

    // The browser's own tooltip would show the same words a second later.
    Array.prototype.forEach.call(figure.querySelectorAll("svg [data-value]"), function (bar) {
      var title = bar.querySelector("title");
      if (title) {
        bar.setAttribute("data-tip", title.textContent);
        bar.removeChild(title);
      }
    });

    var marked = null;
    function unmark() {
      if (marked) {
        marked.style.opacity = "";
        marked = null;
      }
    }
    figure.addEventListener("pointermove", function (event) {
      var bar = event.target.closest ? event.target.closest("[data-tip]") : null;
      if (!bar || !figure.contains(bar)) {
        tip.hidden = true;
        unmark();
        return;
      }
      if (bar !== marked) {
        unmark();
        marked = bar;
        bar.style.opacity = "0.75";
        tip.textContent = bar.getAttribute("data-tip");
      }
      tip.hidden = false;
      // Beside the pointer, kept inside the window.
      var x = Math.min(event.clientX + 12, window.innerWidth - tip.offsetWidth - 4);
      var y = Math.max(event.clientY - tip.offsetHeight - 8, 4);
      s.left = x + "px";
      s.top = y + "px";
    });
    figure.addEventListener("pointerleave", function () {
      tip.hidden = true;
      unmark();
    });
  });
})();
