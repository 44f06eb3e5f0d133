// Stairway console: the one script of our own. Counts down to the next escalation, keeps open
// details open across live updates, and says when those stopped because the session ended.
(function () {
  "use strict";
  function span(ms) {
    var s = Math.max(0, Math.round(ms / 1000));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    if (h) return h + "h " + m + "m";
    if (m) return m + "m " + r + "s";
    return r + "s";
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll("time[data-countdown]").forEach(function (el) {
      var left = Date.parse(el.getAttribute("datetime")) - now;
      el.textContent = left > 0 ? "in " + span(left) : "due now";
    });
  }
  setInterval(tick, 1000);
  document.addEventListener("DOMContentLoaded", tick);
  // A live refresh morphs a part in place (idiomorph): what the person opened stays open.
  if (window.Idiomorph) {
    window.Idiomorph.defaults.callbacks.beforeAttributeUpdated = function (name, element) {
      return !(name === "open" && element.tagName === "DETAILS");
    };
  }
  // The live stream ended because the session did (signed out, or expired): say so.
  document.addEventListener("htmx:sseClose", function (event) {
    if (!event.detail || event.detail.type !== "message") return;
    var main = document.getElementById("main");
    if (!main || document.getElementById("signed-out")) return;
    var note = document.createElement("p");
    note.id = "signed-out";
    note.className = "notice";
    note.setAttribute("role", "alert");
    note.append("You are signed out: this page no longer updates. ");
    var link = document.createElement("a");
    link.href = "/sign-in?next=" + encodeURIComponent(location.pathname + location.search);
    link.textContent = "Sign in again";
    note.append(link);
    main.prepend(note);
  });
})();
