// The schedule page in a real headless browser against `lookahead devnet`: it loads without
// console errors, shows the sample rollups, its cells equal `lookahead_getSchedule`, and after an
// `anvil_reorg` that replaces a window's anchor it flashes the window and shows the new
// operators; a banner says when the lookahead is stale or not synced.
//
//   cargo build --bin lookahead && npm install --prefix tests/browser && node --test tests/browser/
//
// Needs Chromium (`/usr/bin/chromium`, Debian's `chromium`; or CHROMIUM=path) and anvil
// (contracts/node_modules/.bin/anvil, from `npm install --prefix contracts`). Writes a
// 1400×700 screenshot and a phone-width one to the system's temporary directory;
// `SCREENSHOT=docs/schedule-page.png node --test tests/browser/` refreshes the README's.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const lookahead = join(root, "target", "debug", "lookahead");
const anvil = join(root, "contracts", "node_modules", ".bin", "anvil");
const browserPath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const screenshot = process.env.SCREENSHOT ?? join(tmpdir(), "schedule-page.png");
const phoneScreenshot = join(tmpdir(), "schedule-page-phone.png");
const ROLLUPS = ["0x65", "0x66", "0x67"];

let devnet;
let ready;
let profile;
let context;
const devnetLog = [];

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function rpc(url, method, params = []) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
  });
  const body = await response.json();
  if (body.error) throw Object.assign(new Error(`${method}: ${body.error.message}`), body.error);
  return body.result;
}

// Polls `check` until it returns a truthy value or `ms` pass.
async function eventually(what, ms, check) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ""}\n${devnetLog.slice(-20).join("\n")}`);
    }
    await sleep(250);
  }
}

before(async () => {
  assert.ok(existsSync(lookahead), `build the binary first: cargo test (or cargo build --bin lookahead) (${lookahead})`);
  assert.ok(existsSync(anvil), `install Foundry first: npm install --prefix contracts (${anvil})`);
  const [anvilPort, httpPort] = [await freePort(), await freePort()];
  const sequencerBase = 20000 + Math.floor(Math.random() * 20000);
  devnet = spawn(lookahead, [
    "devnet", "--anvil", anvil, "--anvil-port", String(anvilPort),
    "--http.port", String(httpPort), "--sequencer-port-base", String(sequencerBase),
  ], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, RUST_LOG: "warn" } });
  createInterface({ input: devnet.stderr }).on("line", (line) => devnetLog.push(line));
  ready = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ready line\n${devnetLog.join("\n")}`)), 60_000);
    devnet.on("exit", (code) => reject(new Error(`lookahead devnet exited with ${code}\n${devnetLog.join("\n")}`)));
    createInterface({ input: devnet.stdout }).on("line", (line) => {
      if (!line.startsWith("{")) return;
      clearTimeout(timer);
      resolve(JSON.parse(line));
    });
  });
  // The sample sequencers become active three windows after registering.
  await eventually("the sample sequencers to be active", 60_000, async () => {
    const entries = await rpc(ready.rpcUrl, "lookahead_getSchedule", ["0x65", null, 1]);
    return entries.length === 1 && entries[0].sequencer !== null;
  });
  profile = mkdtempSync(join(tmpdir(), "lookahead-chromium-"));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: browserPath,
    headless: true,
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
    viewport: { width: 1400, height: 700 },
  });
});

after(async () => {
  if (context) await context.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
  if (devnet && devnet.exitCode === null) {
    devnet.kill("SIGTERM");
    await new Promise((resolve) => devnet.once("exit", resolve));
  }
});

// What the page shows: every fixed cell's operator ("" for none), by "chainId:slot".
async function pageCells(page) {
  return page.$$eval("td.cell:not(.unfixed)", (cells) =>
    cells.map((cell) => [`${cell.dataset.chainId}:${cell.dataset.slot}`, cell.dataset.operator]));
}

// The same slots from `lookahead_getSchedule`.
async function servedCells(cells) {
  const slots = cells.map(([key]) => Number(key.split(":")[1]));
  const from = Math.min(...slots);
  const count = Math.max(...slots) - from + 1;
  const served = new Map();
  for (const chainId of ROLLUPS) {
    for (const entry of await rpc(ready.rpcUrl, "lookahead_getSchedule", [chainId, from, count])) {
      served.set(`${chainId}:${entry.slot}`, entry.sequencer ? entry.sequencer.operator : "");
    }
  }
  return served;
}

// Waits until every fixed cell of the page equals the served schedule (the chain moves on
// every second, so a comparison may catch the page between two updates).
async function pageMatchesSchedule(page, extra = () => true) {
  return eventually("the page's cells to equal lookahead_getSchedule", 30_000, async () => {
    const cells = await pageCells(page);
    if (cells.length < ROLLUPS.length * 8) return false;
    const served = await servedCells(cells);
    const mismatched = cells.filter(([key, operator]) => served.get(key) !== operator);
    if (mismatched.length > 0) throw new Error(`differ at ${mismatched.slice(0, 4).map(([key]) => key).join(", ")}`);
    return (await extra(cells)) && cells;
  });
}

test("the schedule page shows the served schedule, live through a reorg", async () => {
  const page = await context.newPage();
  const problems = [];
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`console: ${message.text()}`);
  });
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  await page.goto(ready.rpcUrl + "/");
  assert.equal(await page.title(), "Sequencer lookahead");

  // The sample rollups as rows.
  await page.waitForSelector("tbody tr[data-chain-id]", { timeout: 20_000 });
  const rows = await page.$$eval("tbody tr[data-chain-id]", (rows) => rows.map((row) => row.dataset.chainId));
  assert.deepEqual(rows, ROLLUPS);

  // Every cell equals the served schedule, with operators, shared slots, a current slot and
  // window headers.
  await pageMatchesSchedule(page, async (cells) => cells.some(([, operator]) => operator !== ""));
  assert.ok(await page.$("th.slot.current"), "the current slot is marked");
  // Operator 1 sequences all three rollups: about one slot in eight is shared, so a few windows
  // may pass before one is shown.
  const shared = await eventually("a shared slot to be shown", 60_000, () =>
    page.$$eval("th.slot.shared", (nodes) => nodes.length > 0 && nodes.map((th) => [th.dataset.slot, th.dataset.shared])));
  for (const [slot, operator] of shared) {
    const operators = await page.$$eval(`td.cell[data-slot="${slot}"]`, (cells) => cells.map((cell) => cell.dataset.operator));
    assert.deepEqual(operators, ROLLUPS.map(() => operator), `slot ${slot} is shared by ${operator}`);
  }
  const statuses = await page.$$eval("th.window .status", (nodes) => nodes.map((node) => node.textContent));
  assert.ok(statuses.some((status) => ["latest", "safe", "finalized"].includes(status)), `window statuses: ${statuses}`);
  assert.equal(await page.$eval("#banner", (banner) => banner.hidden), true, "no banner while synced");
  const height = await page.evaluate(() => Math.ceil(document.body.scrollHeight) + 8);
  await page.screenshot({ path: screenshot, clip: { x: 0, y: 0, width: 1400, height: Math.min(700, height) } });

  // Replace the newest window's anchor: anvil_reorg from just below it.
  const status = await rpc(ready.rpcUrl, "lookahead_status");
  const last = (await rpc(ready.rpcUrl, "lookahead_getSchedule", ["0x65", status.fixedUntilSlot, 1]))[0];
  const head = Number(await rpc(ready.l1RpcUrl, "eth_blockNumber"));
  const depth = head - last.anchor.number + 1;
  await rpc(ready.l1RpcUrl, "anvil_reorg", [depth, []]);
  // The `reorged` notification makes the reorged window flash.
  await page.waitForSelector(`th.window.flash, td.cell.flash`, { state: "attached", timeout: 20_000 });
  const anchorOf = (window) => page.$eval(`th.window[data-window="${window}"]`, (th) => th.dataset.anchorHash ?? "").catch(() => "");
  await eventually("the lookahead to follow the reorg", 20_000, async () =>
    (await rpc(ready.rpcUrl, "lookahead_status")).reorgs.count > status.reorgs.count);
  await pageMatchesSchedule(page, async () => {
    const shown = await anchorOf(last.window);
    return shown !== "" && shown !== last.anchor.hash;
  });

  await page.close();

  // On a phone-width screen: the table scrolls under a sticky rollup column, showing the
  // current slot.
  const phone = await context.newPage();
  phone.on("console", (message) => {
    if (message.type() === "error") problems.push(`phone console: ${message.text()}`);
  });
  await phone.setViewportSize({ width: 390, height: 844 });
  await phone.goto(ready.rpcUrl + "/");
  await phone.waitForSelector("td.cell[data-operator]:not([data-operator=''])", { timeout: 20_000 });
  await sleep(300);
  // The current slot's column is in view, right of the sticky rollup column: scrolled to when
  // it lies past the screen's edge, left at 0 when it is among the first columns already.
  const view = await phone.evaluate(() => {
    const scroller = document.getElementById("scroller");
    const current = document.querySelector("th.slot.current");
    const corner = document.querySelector("th.corner");
    return current && {
      wide: scroller.scrollWidth > scroller.clientWidth,
      left: current.offsetLeft - scroller.scrollLeft,
      right: current.offsetLeft + current.offsetWidth - scroller.scrollLeft,
      corner: corner.offsetWidth,
      width: scroller.clientWidth,
    };
  });
  assert.ok(view, "the current slot is marked");
  assert.ok(view.wide, "the table is wider than a phone's screen");
  assert.ok(view.left >= view.corner - 1 && view.right <= view.width + 1, `the current slot is in view: ${JSON.stringify(view)}`);
  await phone.screenshot({ path: phoneScreenshot, fullPage: true });
  await phone.close();
  assert.deepEqual(problems, [], "no console errors");
});

// Opens the page with the lookahead's WebSocket answers to `lookahead_status` rewritten by
// `rewrite`, and returns the banner's text once it shows.
async function bannerWith(rewrite) {
  const page = await context.newPage();
  const problems = [];
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(message.text());
  });
  await page.routeWebSocket(/.*/, (ws) => {
    const server = ws.connectToServer();
    ws.onMessage((message) => server.send(message));
    server.onMessage((message) => {
      const body = JSON.parse(message);
      if (body.result && typeof body.result === "object" && "stale" in body.result) rewrite(body.result);
      ws.send(JSON.stringify(body));
    });
  });
  await page.goto(ready.rpcUrl + "/");
  await page.waitForSelector("#banner:not([hidden])", { timeout: 10_000 });
  const text = await page.$eval("#banner", (banner) => banner.textContent);
  await page.close();
  assert.deepEqual(problems, [], "no console errors");
  return text;
}

test("a banner says when the lookahead is stale or not synced", async () => {
  assert.match(await bannerWith((status) => { status.stale = true; }), /cannot reach its node/);
  assert.match(await bannerWith((status) => { status.fixedUntilSlot = null; }), /not synced/);
});
