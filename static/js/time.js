// Keeps every <time data-relative> phrase fresh without a request, with the rules of
// blog/core/ui.py (relative_time): "just now", "5 minutes ago", "3 hours ago", "yesterday",
// "4 days ago", then a short date; days counted in the reader's own time zone.
(() => {
  const plural = (n, unit) => `${n} ${unit}${n === 1 ? "" : "s"}`;
  const dayNumber = (d) => Math.floor(new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime() / 86400000);
  const shortDate = (d, now) =>
    d.toLocaleDateString("en-GB", d.getFullYear() === now.getFullYear()
      ? { day: "numeric", month: "short" }
      : { day: "numeric", month: "short", year: "numeric" });

  const phrase = (d, now) => {
    let seconds = (now - d) / 1000;
    const ahead = seconds < 0;
    seconds = Math.abs(seconds);
    if (seconds < 45) return "just now";
    if (seconds < 45 * 60) {
      const n = Math.max(1, Math.round(seconds / 60));
      return ahead ? `in ${plural(n, "minute")}` : `${plural(n, "minute")} ago`;
    }
    if (seconds < 22 * 3600) {
      const n = Math.max(1, Math.round(seconds / 3600));
      return ahead ? `in ${plural(n, "hour")}` : `${plural(n, "hour")} ago`;
    }
    const days = Math.abs(dayNumber(now) - dayNumber(d));
    if (days <= 1) return ahead ? "tomorrow" : "yesterday";
    if (days < 7 && !ahead) return `${days} days ago`;
    return shortDate(d, now);
  };

  const refresh = (root) => {
    const now = new Date();
    (root || document).querySelectorAll("time[data-relative][datetime]").forEach((el) => {
      const d = new Date(el.getAttribute("datetime"));
      if (!Number.isNaN(d.getTime())) {
        const text = phrase(d, now);
        if (el.textContent !== text) el.textContent = text;
      }
    });
  };

  window.blogTime = { phrase, refresh };
  refresh();
  window.setInterval(refresh, 30000);
  document.addEventListener("htmx:afterSettle", (event) => refresh(event.target));
  document.addEventListener("htmx:oobAfterSwap", (event) => refresh(event.target));
})();
