// Small enhancements only: every page works without this file.
"use strict";

function copyText(button) {
  const target = document.getElementById(button.dataset.copyTarget);
  if (!target) return;
  const text = target.textContent.trim();
  const done = () => {
    const label = button.textContent;
    button.textContent = "Copied";
    button.classList.add("copied");
    setTimeout(() => { button.textContent = label; button.classList.remove("copied"); }, 1600);
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, () => selectText(target));
  } else {
    selectText(target);
    try { document.execCommand("copy"); done(); } catch (e) { /* the text stays selected for Ctrl+C */ }
  }
}

function selectText(element) {
  const range = document.createRange();
  range.selectNodeContents(element);
  const selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
}

// Keep resource figures fresh without a reload, unless the user is busy on the page.
function liveRefresh(region) {
  const seconds = parseInt(region.dataset.liveRefresh, 10);
  if (!seconds) return;
  setInterval(async () => {
    if (document.hidden || region.contains(document.activeElement)) return;
    try {
      const response = await fetch(window.location.pathname, { credentials: "same-origin", headers: { "Accept": "text/html" } });
      if (!response.ok) return;
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = page.getElementById(region.id);
      if (fresh) region.replaceChildren(...fresh.childNodes);
    } catch (e) { /* offline for a moment: try again next time */ }
  }, seconds * 1000);
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-copy-target]");
  if (button) copyText(button);
});

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-live-refresh]").forEach(liveRefresh);
});
