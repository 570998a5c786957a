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
