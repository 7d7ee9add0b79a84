// SteelScan's keyboard for the decision screen: one listener on the window, stamped with the sheet it serves.
// Streamlit calls the default export again with new `data` on every run of the screen, on the same parentElement;
// the listener reads the latest data, so a key always names the sheet that was on screen when it was pressed.
// The Python side acts only when that sheet is still the one it shows (ui.keyboard), so a key can never decide a
// sheet the inspector did not see, and Streamlit's own handlers for the buttons' displayed shortcuts stay silent.
//
// Delivery is at least once: Streamlit can drop a trigger that meets another rerun (seen on a loaded 2-core CPU,
// about one press in fifty), so a press is sent again until the server's next run acknowledges its id. The server
// runs each id once, so a resent press never acts twice.

const listeners = new WeakMap();
const session = Math.random().toString(36).slice(2, 10);
const RESEND_MS = 1500;
const RESENDS = 5;
let sequence = 0;

function typingIn(target) {
  if (!target || !target.tagName) return false;
  return ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName) || target.isContentEditable;
}

function textOf(selector) {
  const box = selector ? document.querySelector(selector) : null;
  return box ? box.value : "";
}

function send(state, press) {
  state.pending = { press, sentAt: Date.now(), tries: 1 };
  state.send("press", press);
}

function resend(state) {
  const pending = state.pending;
  if (!pending || Date.now() - pending.sentAt < RESEND_MS) return;
  // Given up, or the screen has moved to another sheet (the press would be refused there anyway).
  if (pending.tries > RESENDS || !state.data || state.data.scope !== pending.press.scope) {
    state.pending = null;
    return;
  }
  pending.tries += 1;
  pending.sentAt = Date.now();
  state.send("press", pending.press);
}

const OVERLAY_ID = "steelscan-shortcuts";

function overlay() {
  return document.getElementById(OVERLAY_ID);
}

function closeOverlay() {
  const open = overlay();
  if (open) open.remove();
}

// "?": every shortcut of the screen in one overlay, drawn here (no server round trip); ? or Esc or a click closes it.
function toggleOverlay(help) {
  if (overlay()) {
    closeOverlay();
    return;
  }
  const box = document.createElement("div");
  box.id = OVERLAY_ID;
  box.setAttribute("role", "dialog");
  box.setAttribute("aria-label", "Keyboard shortcuts");
  box.style.cssText = "position:fixed;inset:0;z-index:1000100;display:flex;align-items:center;"
    + "justify-content:center;background:rgba(0,0,0,.35);font-family:inherit";
  const card = document.createElement("div");
  card.style.cssText = "background:#fff;color:#31333f;border-radius:.6rem;padding:1rem 1.4rem;max-width:40rem;"
    + "max-height:90vh;overflow:auto;box-shadow:0 .5rem 2rem rgba(0,0,0,.3)";
  const title = document.createElement("h3");
  title.textContent = "Keyboard shortcuts";
  title.style.cssText = "margin:0 0 .6rem 0;font-size:1.15rem";
  card.appendChild(title);
  const table = document.createElement("table");
  table.style.cssText = "border-collapse:collapse;font-size:.95rem";
  for (const [keys, what] of help || []) {
    const row = table.insertRow();
    const key = row.insertCell();
    key.style.cssText = "padding:.2rem 1rem .2rem 0;white-space:nowrap;font-weight:600";
    key.textContent = keys;  // text, never HTML
    row.insertCell().textContent = what;
  }
  card.appendChild(table);
  const foot = document.createElement("p");
  foot.textContent = "Keys do nothing while you type in a text box. Press ? or Esc to close.";
  foot.style.cssText = "margin:.6rem 0 0 0;font-size:.85rem;opacity:.7";
  card.appendChild(foot);
  box.appendChild(card);
  box.addEventListener("click", (event) => { if (event.target === box) closeOverlay(); });
  document.body.appendChild(box);
}

function onButton(target) {
  return target && target.closest && target.closest("button, a, [role='button'], [role='tab'], summary");
}

function handler(state) {
  return (event) => {
    const data = state.data;
    if (!data || event.ctrlKey || event.metaKey || event.altKey || event.repeat || event.isComposing) return;
    const name = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    const typing = typingIn(event.target);
    if (overlay() && (name === "?" || name === "Escape")) {
      event.preventDefault();
      event.stopImmediatePropagation();
      closeOverlay();
      return;
    }
    if (name === "?" && !typing) {
      event.preventDefault();
      event.stopImmediatePropagation();
      toggleOverlay(data.help);
      return;
    }
    let action = data.keys[name];
    if (typing) {
      // In a text box a letter is typing; only Enter in the reason box (record) and Escape (close) act.
      const inReason = data.reason && event.target.matches(data.reason);
      action = name === "Escape" ? action : name === "Enter" && inReason ? data.enter : undefined;
    } else if (name === "Enter" && onButton(event.target)) {
      action = undefined;  // Enter on a focused button presses that button, as everywhere
    }
    if (!action) return;
    closeOverlay();
    event.preventDefault();
    event.stopImmediatePropagation();
    sequence += 1;
    send(state, { id: `${session}-${sequence}`, scope: data.scope, action, reason: textOf(data.reason) });
  };
}

export default function mount(component) {
  const { data, parentElement, setTriggerValue } = component;
  let state = listeners.get(parentElement);
  if (!state) {
    state = { data, send: setTriggerValue, pending: null };
    state.listener = handler(state);
    window.addEventListener("keydown", state.listener, true);  // capture: before any element's own handling
    state.timer = window.setInterval(() => resend(state), 250);
    listeners.set(parentElement, state);
  }
  state.data = data;
  state.send = setTriggerValue;
  if (state.pending && data && (data.seen || []).includes(state.pending.press.id)) state.pending = null;
  const host = parentElement.host || parentElement;  // the shadow root's host when styles are isolated
  if (host.dataset) host.dataset.keysScope = data ? data.scope : "";
  return () => {
    window.removeEventListener("keydown", state.listener, true);
    window.clearInterval(state.timer);
    listeners.delete(parentElement);
  };
}
