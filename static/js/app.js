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
