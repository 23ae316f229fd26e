// New work appears without a full reload: the inbox count is polled, and the inbox page
// offers to refresh when new tasks arrive.
(function () {
  "use strict";
  const badge = document.getElementById("inbox-count");
  if (!badge) return;
  let last = null;
  async function poll() {
    try {
      const response = await fetch(badge.dataset.url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (!response.ok) return;
      const counts = await response.json();
      const total = counts.mine + counts.department;
      badge.textContent = total > 0 ? String(total) : "";
      const banner = document.getElementById("new-work");
      if (banner && last !== null && counts.latest !== last) banner.classList.add("show");
      last = counts.latest;
    } catch (err) {
      /* offline for a moment: try again at the next tick */
    }
  }
  poll();
  setInterval(poll, 15000);
})();
