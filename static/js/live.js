// The live channel's page side (progressive enhancement: every page works without it).
// The htmx ws extension connects, reconnects with backoff and swaps each message out of band;
// this file shows the "live updates unavailable" notice while the socket is closed, and
// dismisses toasts: by their close button, by Escape, or on their own after a while (not
// while the pointer or the keyboard focus is on one). A toast never takes focus: #toasts is
// a polite live region that announces it where the reader is.
(function () {
  "use strict";
  const TOAST_SECONDS = 8;
  // blog.core.live.CLOSE_POLICY: the session ended (signed out elsewhere, suspended, expired).
  // The ws extension reconnects only after 1006 and 1011-1013, so the tab stays off.
  const SESSION_ENDED = 1008;

  function notice(show) {
    const status = document.getElementById("live-status");
    if (status) {
      // Once signed out, that stays the one message: nothing is coming back to reconnect to.
      status.hidden = status.dataset.ended === undefined ? !show : false;
    }
  }

  // The server says why just before it closes (templates/notifications/_live_status.html);
  // if only the close came, say it with what the page has. Signing in comes back here.
  function sessionEnded() {
    const status = document.getElementById("live-status");
    if (!status) {
      return;
    }
    if (status.dataset.ended === undefined) {
      const link = document.createElement("a");
      link.href = status.dataset.signinUrl || "/login";
      link.textContent = "Sign in";
      status.replaceChildren("You are signed out: this session has ended. ", link);
      status.dataset.ended = "ended";
      status.classList.add("ended");
      status.setAttribute("role", "alert");
    }
    status.querySelectorAll("a[href]").forEach((a) => {
      const url = new URL(a.getAttribute("href"), window.location.href);
      if (url.origin === window.location.origin && !url.searchParams.has("next")) {
        url.searchParams.set("next", window.location.pathname + window.location.search);
        a.setAttribute("href", url.pathname + url.search);
      }
    });
    status.hidden = false;
    // The ws extension reconnects while its element is in the page, and a close can reach the
    // browser as 1006 rather than 1008 (a server that writes past its close frame, a proxy):
    // the same element without the socket takes its place, with the notice and the toasts.
    const live = document.getElementById("live");
    if (live && live.hasAttribute("ws-connect")) {
      const still = document.createElement("div");
      still.id = live.id;
      still.className = live.className;
      still.append(...live.childNodes);
      live.replaceWith(still);
    }
  }

  document.addEventListener("htmx:wsClose", (event) => {
    const closed = event.detail && event.detail.event;
    if (closed && closed.code === SESSION_ENDED) {
      sessionEnded();
    } else {
      notice(true);
    }
  });
  document.addEventListener("htmx:wsError", () => notice(true));
  // On open the server sends the real state (Redis reachable or not); until then, hide it.
  document.addEventListener("htmx:wsOpen", () => notice(false));

  function toasts() {
    return Array.from(document.querySelectorAll("#toasts .toast"));
  }

  function lifetime() {
    const region = document.getElementById("toasts");
    const seconds = Number(region && region.dataset.seconds);
    return (seconds > 0 ? seconds : TOAST_SECONDS) * 1000;
  }

  // Removes a toast. If the keyboard focus was in it, it moves to the next toast's close
  // button, or else to the nav's Notifications link: never lost to <body>.
  function dismiss(toast) {
    const hadFocus = toast.contains(document.activeElement);
    window.clearTimeout(Number(toast.dataset.timer));
    const rest = toasts().filter((t) => t !== toast);
    toast.remove();
    if (hadFocus) {
      const next = rest.length ? rest[rest.length - 1].querySelector("[data-toast-close]") : null;
      const target = next || document.getElementById("nav-notifications");
      if (target) {
        target.focus();
      }
    }
  }

  function isBusy(toast) {
    return toast.matches(":hover") || toast.contains(document.activeElement);
  }

  function dismissLater(toast) {
    window.clearTimeout(Number(toast.dataset.timer));
    toast.dataset.timer = String(
      window.setTimeout(() => {
        if (!toast.isConnected) {
          return;
        }
        // Someone is reading or about to press something in it: wait for them.
        if (isBusy(toast)) {
          dismissLater(toast);
        } else {
          dismiss(toast);
        }
      }, lifetime()),
    );
  }

  document.addEventListener("htmx:wsAfterMessage", () => {
    const status = document.getElementById("live-status");
    if (status && status.dataset.ended !== undefined) {
      sessionEnded();
    }
    toasts().forEach((toast) => {
      if (!toast.dataset.timer) {
        dismissLater(toast);
      }
    });
  });

  document.addEventListener("click", (event) => {
    if (!(event.target instanceof Element)) {
      return;
    }
    const toast = event.target.closest("#toasts .toast");
    // The close button, or anywhere on the toast outside its links.
    if (toast && (event.target.closest("[data-toast-close]") || !event.target.closest("a"))) {
      dismiss(toast);
    }
  });

  // Escape closes the toast that holds the focus; elsewhere, the newest toast, unless the key
  // belongs to something else (a form field, an open dialog, a handler that already used it).
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || event.defaultPrevented) {
      return;
    }
    const all = toasts();
    if (!all.length) {
      return;
    }
    const target = event.target instanceof Element ? event.target : null;
    const inToast = target ? target.closest("#toasts .toast") : null;
    if (inToast) {
      event.preventDefault();
      dismiss(inToast);
      return;
    }
    if (target && target.closest("input, textarea, select, [contenteditable], dialog[open]")) {
      return;
    }
    event.preventDefault();
    dismiss(all[all.length - 1]);
  });
})();

// A live message carries out-of-band fragments for places that only some pages have (a
// conversation's list, its count in the chat list). Fragments whose target is not on this page
// are dropped before htmx swaps, instead of each logging an htmx:oobErrorNoTarget error.
if (window.htmx) {
  window.htmx.defineExtension("live-targets", {
    transformResponse: function (text, xhr) {
      if (xhr) {
        return text; // an ordinary response: htmx's usual rules
      }
      const template = document.createElement("template");
      template.innerHTML = text;
      let dropped = false;
      Array.from(template.content.children).forEach((child) => {
        const spec = child.getAttribute("hx-swap-oob") || "true";
        const colon = spec.indexOf(":");
        const selector = colon > 0 ? spec.slice(colon + 1) : child.id ? "#" + CSS.escape(child.id) : null;
        if (selector && !document.querySelector(selector)) {
          child.remove();
          dropped = true;
        }
      });
      return dropped ? template.innerHTML : text;
    },
  });
}
