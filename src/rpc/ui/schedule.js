// The schedule page: rollups as rows, slots as columns (the past windows still served, the
// head's window and the fixed horizon), live over the lookahead's own WebSocket.
"use strict";

const NOT_SYNCED = -39004;
const TOO_OLD = -39003;
const PAST_WINDOWS = 2; // windows before the head's that the lookahead still serves
const POLL_MS = 2000;

const state = {
  socket: null,
  nextId: 1,
  pending: new Map(),
  status: null,
  entries: new Map(), // "chainId:slot" -> ScheduleEntry
  range: null, // {from, to} of the loaded schedule
  loadedKey: "",
  flashing: new Map(), // window -> time the flash ends
  layoutKey: "",
  error: null,
  connected: false,
};

const $ = (id) => document.getElementById(id);
const key = (chainId, slot) => `${chainId}:${slot}`;

// --- JSON-RPC over the WebSocket -----------------------------------------------------------

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/`);
  state.socket = socket;
  socket.onopen = async () => {
    state.connected = true;
    try {
      await call("lookahead_subscribe", ["schedule"]);
      await refresh(true);
    } catch (error) {
      showError(error);
    }
  };
  socket.onmessage = (event) => onMessage(event.data);
  socket.onclose = () => {
    state.connected = false;
    for (const { reject } of state.pending.values()) reject({ code: 0, message: "disconnected" });
    state.pending.clear();
    state.loadedKey = "";
    render();
    setTimeout(connect, 2000);
  };
  socket.onerror = () => {}; // the close that follows reconnects
}

function call(method, params) {
  return new Promise((resolve, reject) => {
    if (!state.socket || state.socket.readyState !== WebSocket.OPEN) {
      reject({ code: 0, message: "disconnected" });
      return;
    }
    const id = state.nextId++;
    state.pending.set(id, { resolve, reject });
    state.socket.send(JSON.stringify({ jsonrpc: "2.0", id, method, params }));
  });
}

function onMessage(data) {
  let message;
  try {
    message = JSON.parse(data);
  } catch {
    return;
  }
  if (message.id !== undefined && state.pending.has(message.id)) {
    const { resolve, reject } = state.pending.get(message.id);
    state.pending.delete(message.id);
    if (message.error) reject(message.error);
    else resolve(message.result);
    return;
  }
  if (message.method === "lookahead_subscription" && message.params) {
    onNotification(message.params.result);
  }
}

// --- State ----------------------------------------------------------------------------------

function onNotification(change) {
  if (!change || !Array.isArray(change.entries)) return;
  for (const entry of change.entries) state.entries.set(key(change.chainId, entry.slot), entry);
  if (change.kind === "reorged" && state.status) {
    const size = state.status.windowSlots;
    const windows = new Set(change.entries.map((entry) => entry.window));
    windows.add(Math.floor(change.fromSlot / size));
    const until = Date.now() + 3000;
    for (const window of windows) state.flashing.set(window, until);
    setTimeout(render, 3100);
  }
  if (change.kind === "extended") {
    refresh(false).catch(showError);
    return;
  }
  render();
}

// The slots to show: the served past windows, the head's window and the fixed horizon.
function wantedRange(status) {
  if (!status.head || status.head.slot === null || status.fixedUntilSlot === null) return null;
  const size = status.windowSlots;
  const headWindow = Math.floor(status.head.slot / size);
  const firstWindow = Math.max(2, headWindow - PAST_WINDOWS); // windows 0 and 1 have no anchor
  const from = firstWindow * size;
  const to = status.fixedUntilSlot;
  return to >= from ? { from, to } : null;
}

async function refresh(force) {
  let status;
  try {
    status = await call("lookahead_status", []);
  } catch (error) {
    showError(error);
    return;
  }
  const before = state.status;
  state.status = status;
  state.error = null;
  const range = wantedRange(status);
  const loadKey = range
    ? `${range.from}-${range.to}-${status.rollups.join(",")}-${status.reorgs.count}`
    : "";
  if (range && (force || loadKey !== state.loadedKey)) {
    try {
      await load(status, range);
      state.loadedKey = loadKey;
    } catch (error) {
      showError(error);
    }
  } else if (!range && before && before.fixedUntilSlot !== null) {
    state.entries.clear();
  }
  if (!range) state.range = null;
  render();
}

async function load(status, range) {
  const size = status.windowSlots;
  let from = range.from;
  for (;;) {
    try {
      const count = range.to - from + 1;
      const schedules = await Promise.all(
        status.rollups.map((chainId) => call("lookahead_getSchedule", [chainId, from, count])),
      );
      const entries = new Map();
      status.rollups.forEach((chainId, i) => {
        for (const entry of schedules[i]) entries.set(key(chainId, entry.slot), entry);
      });
      state.entries = entries;
      state.range = { from, to: range.to };
      return;
    } catch (error) {
      // The oldest window was pruned meanwhile: start a window later.
      if (error && error.code === TOO_OLD && from + size <= range.to) {
        from += size;
        continue;
      }
      throw error;
    }
  }
}

function showError(error) {
  state.error = error && error.code !== undefined ? error : { code: 0, message: String(error) };
  render();
}

// --- Rendering ------------------------------------------------------------------------------

// A stable colour per operator: hue and lightness from a hash of its address.
function colour(operator) {
  let hash = 2166136261;
  const text = operator.toLowerCase();
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 16777619);
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x45d9f3b) >>> 0;
  hash ^= hash >>> 16;
  const hue = (hash >>> 0) % 360;
  const lightness = 66 + ((hash >>> 12) % 3) * 6;
  return `hsl(${hue} 70% ${lightness}%)`;
}

const short = (address) => address.slice(2, 6);

function element(tag, attributes = {}, text) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function banner() {
  const node = $("banner");
  let text = "";
  let error = false;
  if (!state.connected) {
    text = "Not connected to the lookahead: reconnecting…";
    error = true;
  } else if (state.error && state.error.code === NOT_SYNCED) {
    text = "The lookahead is not synced yet: no window is fixed.";
  } else if (state.error) {
    text = `Error ${state.error.code}: ${state.error.message}`;
    error = true;
  } else if (state.status && state.status.stale) {
    text = "The lookahead cannot reach its node: showing its last state, which may be stale.";
  } else if (state.status && !state.range) {
    text = "The lookahead is not synced yet: no window is fixed.";
  }
  node.hidden = text === "";
  node.textContent = text;
  node.className = error ? "error" : "";
}

function summary() {
  const status = state.status;
  if (!status) {
    $("summary").textContent = state.connected ? "loading…" : "connecting…";
    return;
  }
  const parts = [];
  if (status.head) parts.push(`head block ${status.head.number} · slot ${status.head.slot ?? "–"}`);
  if (status.safe) parts.push(`safe ${status.safe.number}`);
  if (status.finalized) parts.push(`finalized ${status.finalized.number}`);
  if (status.fixedUntilSlot !== null) parts.push(`fixed until slot ${status.fixedUntilSlot}`);
  parts.push(`${status.windowSlots}-slot windows`);
  parts.push(`reorgs ${status.reorgs.count} (deepest ${status.reorgs.deepest})`);
  $("summary").textContent = parts.join(" · ");
}

function render() {
  banner();
  summary();
  const table = $("schedule");
  const status = state.status;
  const range = state.range;
  if (!status || !range) {
    table.replaceChildren();
    state.layoutKey = "";
    $("legend").replaceChildren();
    return;
  }
  const size = status.windowSlots;
  const rollups = status.rollups;
  const slots = [];
  for (let slot = range.from; slot <= range.to; slot++) slots.push(slot);
  const layoutKey = `${range.from}-${range.to}-${rollups.join(",")}`;
  const rebuilt = layoutKey !== state.layoutKey;
  if (rebuilt) {
    build(table, rollups, slots, size);
    state.layoutKey = layoutKey;
  }
  update(table, status, rollups, slots, size);
  if (rebuilt) showCurrent(table);
}

// On a narrow screen, scrolls the table so that the current slot is in view.
function showCurrent(table) {
  const scroller = $("scroller");
  const current = table.querySelector("th.slot.current");
  const corner = table.querySelector("th.corner");
  if (!current || !corner || scroller.scrollWidth <= scroller.clientWidth) return;
  const offset = current.offsetLeft - corner.offsetWidth - 2 * current.offsetWidth;
  scroller.scrollLeft = Math.max(0, offset);
}

// Builds the table's skeleton: header rows and one row per rollup.
function build(table, rollups, slots, size) {
  const head = element("thead");
  const windows = element("tr");
  windows.append(element("th", { class: "corner", rowspan: "2" }, "rollup"));
  for (let i = 0; i < slots.length; ) {
    const window = Math.floor(slots[i] / size);
    let span = 0;
    while (i + span < slots.length && Math.floor(slots[i + span] / size) === window) span++;
    windows.append(element("th", { class: "window", colspan: String(span), "data-window": String(window) }));
    i += span;
  }
  const slotRow = element("tr");
  for (const slot of slots) {
    const th = element("th", { class: "slot", "data-slot": String(slot) });
    if (slot % size === 0) th.classList.add("window-start");
    slotRow.append(th);
  }
  head.append(windows, slotRow);
  const body = element("tbody");
  for (const chainId of rollups) {
    const row = element("tr", { "data-chain-id": chainId });
    row.append(element("th", { class: "rollup", scope: "row" }, chainId));
    for (const slot of slots) {
      const td = element("td", { class: "cell", "data-chain-id": chainId, "data-slot": String(slot) });
      row.append(td);
    }
    body.append(row);
  }
  table.replaceChildren(head, body);
}

// Fills the cells, window headers, shared and current markers, and the legend.
function update(table, status, rollups, slots, size) {
  const current = status.head ? status.head.slot : null;
  const now = Date.now();
  for (const [window, until] of state.flashing) if (until <= now) state.flashing.delete(window);
  const operators = new Map();
  for (const th of table.querySelectorAll("th.window")) {
    const window = Number(th.dataset.window);
    const first = rollups.map((id) => state.entries.get(key(id, window * size)) ??
      slots.map((slot) => state.entries.get(key(id, slot))).find((e) => e && e.window === window)).find(Boolean);
    th.replaceChildren();
    if (first) {
      th.append(`window ${window} · anchor `, element("span", { class: "anchor" }, `#${first.anchor.number}`));
      th.append(element("span", { class: `status status-${first.status}` }, first.status));
      th.title = `anchor block ${first.anchor.number}\n${first.anchor.hash}`;
      th.dataset.anchorHash = first.anchor.hash;
      th.dataset.status = first.status;
    } else {
      th.append(`window ${window}`, element("span", { class: "status status-pending" }, "not fixed"));
      th.dataset.anchorHash = "";
      th.dataset.status = "";
    }
    th.classList.toggle("flash", state.flashing.has(window));
  }
  for (const th of table.querySelectorAll("th.slot")) {
    const slot = Number(th.dataset.slot);
    const entries = rollups.map((id) => state.entries.get(key(id, slot)));
    const first = entries[0] && entries[0].sequencer;
    const shared = rollups.length > 1 && first &&
      entries.every((entry) => entry && entry.sequencer && entry.sequencer.operator === first.operator);
    th.replaceChildren(element("span", { class: "marker", title: shared ? `one operator for every rollup: ${first.operator}` : "" }, shared ? "◆" : ""), String(slot));
    th.classList.toggle("shared", Boolean(shared));
    th.classList.toggle("current", slot === current);
    th.dataset.shared = shared ? first.operator : "";
  }
  for (const td of table.querySelectorAll("td.cell")) {
    const chainId = td.dataset.chainId;
    const slot = Number(td.dataset.slot);
    const entry = state.entries.get(key(chainId, slot));
    const window = Math.floor(slot / size);
    const sequencer = entry ? entry.sequencer : null;
    td.className = "cell";
    if (slot % size === 0) td.classList.add("window-start");
    if (!entry) {
      td.classList.add("unfixed");
      td.dataset.operator = "";
      td.textContent = "";
      td.title = `slot ${slot}: not served`;
      td.style.background = "";
    } else if (!sequencer) {
      td.classList.add("none");
      td.dataset.operator = "";
      td.textContent = "–";
      td.title = `slot ${slot} · window ${window}\nno sequencer: the rollup's own rule applies\nanchor #${entry.anchor.number} (${entry.status})`;
      td.style.background = "";
    } else {
      td.dataset.operator = sequencer.operator;
      td.textContent = short(sequencer.operator);
      td.style.background = colour(sequencer.operator);
      const lines = [
        `slot ${slot} · window ${window} · rollup ${chainId}`,
        `operator ${sequencer.operator}`,
        `signer ${sequencer.signer}`,
        `endpoint ${sequencer.rpcUrl}`,
      ];
      if (sequencer.bond !== undefined) lines.push(`bond ${sequencer.bond}`);
      if (sequencer.misses !== undefined) lines.push(`misses ${sequencer.misses}`);
      lines.push(`anchor #${entry.anchor.number} (${entry.status})`);
      td.title = lines.join("\n");
      operators.set(sequencer.operator, (operators.get(sequencer.operator) ?? 0) + 1);
    }
    const header = table.querySelector(`th.slot[data-slot="${slot}"]`);
    if (header && header.classList.contains("shared")) td.classList.add("shared");
    if (slot === current) td.classList.add("current");
    if (current !== null && slot < current) td.classList.add("past");
    if (state.flashing.has(window)) td.classList.add("flash");
  }
  legend(operators);
}

function legend(operators) {
  const items = [...operators.keys()].sort().map((operator) => {
    const item = element("span", { class: "operator", "data-operator": operator });
    const swatch = element("span", { class: "swatch" });
    swatch.style.background = colour(operator);
    item.append(swatch, element("code", {}, operator));
    return item;
  });
  $("legend").replaceChildren(...items);
}

// --- Start ----------------------------------------------------------------------------------

connect();
setInterval(() => {
  if (state.connected) refresh(false).catch(showError);
  else render();
}, POLL_MS);
