// Live parts of console pages: an element with data-live-url is replaced by that URL's HTML every second
// while its data-live attribute is "on" (the server turns it off once, say, the sync has finished).
(function () {
  function poll(element) {
    if (element.dataset.live !== "on") return;
    window.setTimeout(function () {
      fetch(element.dataset.liveUrl, { headers: { "X-Requested-With": "fetch" }, credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.text() : Promise.reject(response.status); })
        .then(function (html) {
          var holder = document.createElement("div");
          holder.innerHTML = html.trim();
          var fresh = holder.firstElementChild;
          element.replaceWith(fresh);
          poll(fresh);
        })
        .catch(function () { poll(element); });
    }, 1000);
  }
  document.querySelectorAll("[data-live-url]").forEach(poll);
})();
