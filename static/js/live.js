// The live channel's page side (progressive enhancement: every page works without it).
// The htmx ws extension connects, reconnects with backoff and swaps each message out of band;
// this file shows the "live updates unavailable" notice while the socket is closed, and lets
// toasts go away on their own.
(function () {
  "use strict";
  const TOAST_SECONDS = 8;

  function notice(show) {
    const status = document.getElementById("live-status");
    if (status) {
      status.hidden = !show;
    }
  }

  document.addEventListener("htmx:wsClose", () => notice(true));
  document.addEventListener("htmx:wsError", () => notice(true));
  // On open the server sends the real state (Redis reachable or not); until then, hide it.
  document.addEventListener("htmx:wsOpen", () => notice(false));

  // Each toast leaves after a while, or when clicked outside its links.
  function dismissLater(toast) {
    if (toast.dataset.timer) {
      return;
    }
    toast.dataset.timer = String(
      window.setTimeout(() => toast.remove(), TOAST_SECONDS * 1000),
    );
    toast.addEventListener("click", (event) => {
      if (!(event.target instanceof Element) || !event.target.closest("a")) {
        toast.remove();
      }
    });
  }

  document.addEventListener("htmx:wsAfterMessage", () => {
    document.querySelectorAll("#toasts .toast").forEach(dismissLater);
  });
})();
