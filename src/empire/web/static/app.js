// Empire's dashboard: progressive enhancement of server-rendered pages. No framework, no
// network but this server. Text from the server is always set with textContent, never HTML.
"use strict";

(function () {
  const root = document.getElementById("app");
  if (!root) return;
  const app = root.dataset.app;
  const csrf = root.dataset.csrf;
  const base = "/ui/apps/" + encodeURIComponent(app);

  // What a form held survives a session that expired meanwhile: kept in this tab's
  // sessionStorage when sent, put back once after signing in again, then forgotten.
  const KEPT = "empire-form:" + app;
  document.querySelectorAll("#app form, #deploy-form").forEach(function (form) {
    form.addEventListener("submit", function () {
      const values = {};
      form.querySelectorAll("input:not([type=hidden]):not([type=password])").forEach(function (input) {
        if (input.id && input.value) values[input.id] = input.value;
      });
      sessionStorage.setItem(KEPT, JSON.stringify(values));
    });
  });
  const kept = sessionStorage.getItem(KEPT);
  sessionStorage.removeItem(KEPT);
  if (kept && document.referrer.indexOf("/login") >= 0) {
    const values = JSON.parse(kept);
    Object.keys(values).forEach(function (id) {
      const input = document.getElementById(id);
      if (input && input.type !== "number") input.value = values[id];
    });
  }

  // Confirmation before a rollback or an unset.
  const dialog = document.getElementById("confirm");
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (form.dataset.confirmed === "1") return;
      event.preventDefault();
      document.getElementById("confirm-text").textContent = form.dataset.confirm;
      dialog.returnValue = "";
      dialog.showModal();
      dialog.addEventListener("close", function onClose() {
        dialog.removeEventListener("close", onClose);
        if (dialog.returnValue === "ok") {
          form.dataset.confirmed = "1";
          form.requestSubmit();
        }
      });
    });
  });

  // Reveal config values (deployers): fetched on demand, never in the page.
  const reveal = document.getElementById("reveal");
  if (reveal) {
    reveal.addEventListener("click", async function () {
      const response = await fetch(base + "/config", { headers: { "X-CSRF-Token": csrf } });
      if (!response.ok) return;
      const values = await response.json();
      document.querySelectorAll("#config td.value").forEach(function (cell) {
        const name = cell.dataset.name;
        if (name in values) cell.textContent = values[name];
      });
      reveal.hidden = true;
    });
  }

  // Deploy with live progress.
  const deployForm = document.getElementById("deploy-form");
  if (deployForm) {
    deployForm.addEventListener("submit", async function (event) {
      event.preventDefault();
      const out = document.getElementById("deploy-progress");
      out.hidden = false;
      out.textContent = "";
      const button = deployForm.querySelector("button");
      button.disabled = true;
      const print = function (text) { out.textContent += text + "\n"; };
      try {
        const response = await fetch(base + "/deploy", {
          method: "POST",
          headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
          body: JSON.stringify({ image: deployForm.image.value }),
        });
        if (!response.ok) {
          const error = await response.json().catch(function () { return {}; });
          print("Error: " + (error.message || response.statusText));
          return;
        }
        const reader = response.body.getReader();
        const decoder = new TextDecoder();
        let buffer = "";
        let failed = false;
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += decoder.decode(value, { stream: true });
          let end;
          while ((end = buffer.indexOf("\n")) >= 0) {
            const line = buffer.slice(0, end);
            buffer = buffer.slice(end + 1);
            if (!line) continue;
            const message = JSON.parse(line);
            if (message.error) { failed = true; print("Error: " + message.error); }
            else if (message.status) print(message.status + (message.progress ? " " + message.progress : ""));
            else if (message.stream) print(message.stream.replace(/\n$/, ""));
          }
        }
        print(failed ? "Deploy failed." : "Deploy finished.");
        if (!failed) setTimeout(function () { location.reload(); }, 800);
      } catch (error) {
        print("Error: " + error);
      } finally {
        button.disabled = false;
      }
    });
  }

  // Live logs, filtered by source, pausable.
  const logs = document.getElementById("logs");
  const source = document.getElementById("log-source");
  const pause = document.getElementById("log-pause");
  let stream = null;
  let paused = false;
  const held = [];
  const MAX_LINES = 1000;
  function append(line) {
    logs.append(document.createTextNode(line + "\n"));
    while (logs.childNodes.length > MAX_LINES) logs.removeChild(logs.firstChild);
    logs.scrollTop = logs.scrollHeight;
  }
  function follow() {
    if (stream) stream.close();
    logs.textContent = "";
    const query = source.value ? "?process=" + encodeURIComponent(source.value) : "";
    stream = new EventSource(base + "/logs" + query);
    stream.onmessage = function (event) {
      if (paused) { held.push(event.data); if (held.length > MAX_LINES) held.shift(); }
      else append(event.data);
    };
  }
  if (logs) {
    source.addEventListener("change", follow);
    pause.addEventListener("click", function () {
      paused = !paused;
      pause.textContent = paused ? "Resume" : "Pause";
      pause.setAttribute("aria-pressed", String(paused));
      if (!paused) while (held.length) append(held.shift());
    });
    follow();
  }

  // Reload when the app changes (deploy, scale, crash), unless the user is typing.
  const watch = new EventSource(base + "/watch");
  watch.addEventListener("changed", function () {
    const active = document.activeElement;
    const typing = active && (active.tagName === "INPUT" || active.tagName === "SELECT") && active.value;
    if (!typing && !(dialog && dialog.open)) location.reload();
  });
})();
