// The post page follows its like counts live: once the socket is open, the tab says which
// post it shows (blog/reactions/live.py); new counts then arrive out of band like the badge.
// Without the socket the counts are simply those of the last page load.
(function () {
  "use strict";
  document.addEventListener("htmx:wsOpen", (event) => {
    const holder = document.querySelector("[data-live-post]");
    const socket = event.detail && event.detail.socketWrapper;
    if (holder && socket) {
      socket.sendImmediately(JSON.stringify({ type: "post.subscribe", post: holder.dataset.livePost }));
    }
  });
})();
