// Progressive enhancement only: every page works without this file.
document.addEventListener("htmx:afterSwap", (event) => {
  // After a swap, move focus to the first invalid field, or the swapped region, so keyboard
  // and screen-reader users land where the change happened.
  const target = event.detail.target;
  const invalid = target.querySelector('[aria-invalid="true"]');
  if (invalid) {
    invalid.focus();
  }
});
