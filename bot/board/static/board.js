// The duty board's live updates: one EventSource; each `board` event replaces the panels that changed.
// Ages and countdowns are counted here from the server's clock (sent with each event), not the tablet's.
"use strict";
(function () {
  const board = document.getElementById("board");
  if (!board) return;
  const live = document.getElementById("live");
  const soundButton = document.getElementById("sound");
  let offset = parseFloat(board.dataset.now) - Date.now() / 1000;  // server time minus this device's
  let seen = new Set(openAlerts());
  let audio = null;

  function serverNow() { return Date.now() / 1000 + offset; }
  function openAlerts() {
    return Array.from(board.querySelectorAll('[data-alert][data-state="open"]')).map(e => e.dataset.alert);
  }
  function span(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    if (s < 60) return s + " s";
    const m = Math.floor(s / 60);
    return m < 60 ? m + " min " + (s % 60) + " s" : Math.floor(m / 60) + " h " + (m % 60) + " min";
  }
  function tick() {
    const now = serverNow();
    board.querySelectorAll(".age[data-since]").forEach(e => {
      e.textContent = span(now - parseFloat(e.dataset.since)) + " ago";
    });
    board.querySelectorAll(".countdown[data-due]").forEach(e => {
      const left = parseFloat(e.dataset.due) - now;
      e.textContent = left > 0 ? "in " + span(left) : "OVERDUE by " + span(-left);
      const card = e.closest(".lone");
      if (card && left <= 0) card.classList.add("overdue");
    });
  }
  function status(state, text) { live.dataset.state = state; live.textContent = text; }
  function beep() {
    if (!audio) return;
    const o = audio.createOscillator(), g = audio.createGain();
    o.frequency.value = 880; g.gain.value = 0.2;
    o.connect(g); g.connect(audio.destination);
    o.start(); o.stop(audio.currentTime + 0.4);
  }
  soundButton.addEventListener("click", () => {  // browsers allow sound only after a click
    if (audio) { audio.close(); audio = null; } else { audio = new AudioContext(); beep(); }
    soundButton.setAttribute("aria-pressed", audio ? "true" : "false");
    soundButton.textContent = "Alert sound: " + (audio ? "on" : "off");
  });

  function connect() {
    const source = new EventSource("/board/events");
    source.addEventListener("open", () => status("live", "Live"));
    source.addEventListener("board", ev => {
      const data = JSON.parse(ev.data);
      if (data.signed_out) { source.close(); window.location.reload(); return; }
      if (typeof data.now === "number") offset = data.now - Date.now() / 1000;
      const focused = document.activeElement && document.activeElement.id;
      for (const [name, html] of Object.entries(data.panels)) {
        const body = board.querySelector('[data-panel="' + name + '"]');
        if (body) body.innerHTML = html;
      }
      if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
      const open = openAlerts();
      if (open.some(id => !seen.has(id))) beep();
      seen = new Set(open);
      board.dataset.version = String((parseInt(board.dataset.version || "0", 10)) + 1);
      tick();
      status("live", "Live");
    });
    source.addEventListener("error", () => {
      status("down", "Connection lost: reconnecting...");
      if (source.readyState !== EventSource.CLOSED) return;  // the browser retries by itself
      // refused (a standby answering, the session ended): ask the page itself, then try again
      setTimeout(() => {
        fetch("/board", {credentials: "same-origin"}).then(r => {
          if (r.status === 401) window.location.reload(); else connect();
        }, () => connect());
      }, 1000);
    });
  }
  tick();
  setInterval(tick, 1000);
  connect();
})();
