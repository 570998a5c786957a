// Progressive enhancement only: every page works without this file.
document.addEventListener("htmx:afterSwap", (event) => {
  // After a swap, move focus to the first invalid field, so keyboard and screen-reader users
  // land where the change happened. The event fires on each newly swapped-in element: with
  // hx-swap="outerHTML", event.detail.target is the element that was replaced (now detached),
  // so searching it would find only the old, error-free fields.
  const swapped = event.target;
  if (!(swapped instanceof Element)) {
    return;
  }
  const selector = '[aria-invalid="true"]';
  const invalid = swapped.matches(selector) ? swapped : swapped.querySelector(selector);
  if (invalid) {
    invalid.focus();
  }
});

document.addEventListener("htmx:afterSettle", (event) => {
  // "Older posts" replaced itself with the next page: move focus to the first new post, so
  // keyboard and screen-reader users continue where the new content starts.
  const trigger = event.detail.requestConfig && event.detail.requestConfig.elt;
  if (!(trigger instanceof Element) || !trigger.closest(".feed-more")) {
    return;
  }
  const starts = document.querySelectorAll("#feed [data-page-start]");
  if (starts.length > 1) {
    starts[starts.length - 1].focus();
  }
});

// Signing out stops web push in this browser first (another person may use it next): the
// subscription is forgotten by the server and dropped by the browser, then the form goes.
// Never holds sign-out hostage: after 2 s it signs out anyway.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.dataset.pushUnsubscribe) {
    return;
  }
  if (!("serviceWorker" in navigator) || form.dataset.pushCleared) {
    return;
  }
  event.preventDefault();
  let sent = false;
  const signOut = () => {
    if (!sent) {
      sent = true;
      form.dataset.pushCleared = "1";
      form.submit();
    }
  };
  window.setTimeout(signOut, 2000);
  const token = form.querySelector('input[name="csrf_token"]');
  navigator.serviceWorker
    .getRegistration()
    .then((registration) => registration && registration.pushManager.getSubscription())
    .then((subscription) => {
      if (!subscription) {
        return null;
      }
      return fetch(form.dataset.pushUnsubscribe, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": token ? token.value : "" },
        body: JSON.stringify({ endpoint: subscription.endpoint }),
      }).then(() => subscription.unsubscribe());
    })
    .catch(() => null)
    .finally(signOut);
});

// Error answers to htmx requests show beside the form that sent them, never in its target
// (a list it appends to, an element it replaces; DESIGN.md § 6). The server marks its error
// answers with HX-Reswap: none (blog.core.htmx.error_beside_form), so htmx alone swaps them
// nowhere; here they go into a role="alert" slot right after the form (or the element that
// made the request, outside any form), made on demand: `#<form id>-error` when the form has an
// id. A 5xx that is not ours (a proxy's 502 page) gets a plain sentence there instead. Answers
// that name their own place (HX-Retarget: a form re-rendered with its field errors, 422 or
// 429) and a form's ordinary re-render keep htmx's usual rules. The next answer that is not
// an error clears the slot.
(function () {
  "use strict";

  function anchorOf(elt) {
    if (!(elt instanceof Element)) {
      return null;
    }
    return elt.closest("form") || elt;
  }

  function slotOf(anchor, create) {
    let slot = anchor.id ? document.getElementById(anchor.id + "-error") : null;
    if (!slot) {
      const next = anchor.nextElementSibling;
      slot = next && next.classList.contains("request-error-slot") ? next : null;
    }
    if (!slot && create) {
      slot = document.createElement("div");
      slot.className = "request-error-slot";
      slot.setAttribute("role", "alert");
      if (anchor.id) {
        slot.id = anchor.id + "-error";
      }
      anchor.after(slot);
    }
    return slot;
  }

  function isErrorAnswer(xhr) {
    if (!xhr || xhr.status < 400 || xhr.status === 422 || xhr.getResponseHeader("HX-Retarget")) {
      return false;
    }
    return xhr.getResponseHeader("HX-Reswap") === "none" || xhr.status >= 500;
  }

  document.addEventListener("htmx:beforeSwap", (event) => {
    const detail = event.detail;
    const anchor = anchorOf(detail.requestConfig && detail.requestConfig.elt);
    if (!anchor || !anchor.isConnected) {
      return;
    }
    if (!isErrorAnswer(detail.xhr)) {
      const stale = slotOf(anchor, false);
      if (stale) {
        stale.replaceChildren();
        stale.hidden = true;
      }
      return;
    }
    const slot = slotOf(anchor, true);
    slot.hidden = false;
    if (detail.xhr.getResponseHeader("HX-Reswap") !== "none") {
      // Not one of ours: its page does not belong inside this one.
      const p = document.createElement("p");
      p.className = "form-error request-error";
      p.textContent = "The site did not answer (" + detail.xhr.status + "). Please try again in a moment.";
      detail.serverResponse = p.outerHTML;
    }
    detail.target = slot;
    detail.swapOverride = "innerHTML";
    detail.selectOverride = "unset";
    detail.shouldSwap = true;
  });
})();
