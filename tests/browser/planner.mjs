// Drives the planner page in headless Chromium (Debian's, via playwright-core; no browser
// download): load the page, read the forecast, change a channel's budget, wait for the
// forecast to change, run "Optimise", check the recommendation table, save screenshots.
// Usage: node tests/browser/planner.mjs URL SCREENSHOT_DIR
import { chromium } from "playwright-core";

const [url, shots] = process.argv.slice(2);
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const fail = (msg) => { console.error("planner test failed: " + msg); process.exit(1); };

const browser = await chromium.launch({ executablePath, args: ["--no-sandbox", "--disable-gpu"] });
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 1400 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(url);
  await page.waitForFunction(() => document.getElementById("status").textContent === "forecast updated", null, { timeout: 20000 });
  const before = (await page.textContent("#forecast")).trim();
  if (before === "—") fail("no initial forecast");
  const inputs = await page.$$("input.spend[data-channel]");
  if (inputs.length < 2) fail(`expected channel inputs, found ${inputs.length}`);
  const first = inputs[0];
  const value = parseFloat(await first.inputValue());
  await first.fill(String(Math.round(value * 3 + 100000)));
  await page.waitForFunction((b) => {
    const f = document.getElementById("forecast").textContent.trim();
    return document.getElementById("status").textContent === "forecast updated" && f !== b;
  }, before, { timeout: 20000 });
  const after = (await page.textContent("#forecast")).trim();
  console.log(`forecast ${before} -> ${after}`);
  await page.screenshot({ path: `${shots}/planner-plan.png`, fullPage: true });
  await page.click("#optimise");
  await page.waitForSelector("#reco-table tbody tr", { timeout: 20000 });
  const rows = await page.$$eval("#reco-table tbody tr", (trs) => trs.map((tr) => Array.from(tr.cells).map((c) => c.textContent)));
  if (rows.length !== inputs.length) fail(`recommendation has ${rows.length} rows for ${inputs.length} channels`);
  const cert = await page.textContent("#reco");
  if (!cert.includes("Certificate")) fail("no certificate shown");
  console.log(`recommendation rows: ${rows.length}`);
  await page.screenshot({ path: `${shots}/planner-recommendation.png`, fullPage: true });
  if (errors.length) fail("page errors: " + errors.join("; "));
} finally {
  await browser.close();
}
