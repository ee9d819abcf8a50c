// threadkit's HTML report in a real browser: Debian's Chromium, headless, opening the file
// from file:// with the network closed. Asserts what a reader relies on: no console
// errors and no requests, totals equal to `threadkit stats --format json`, every thread in
// the table, charts and recording plots drawn, filtering, search and sorting work, findings
// open their thread, and a screenshot that is not blank.
//
//   node tests/browser/report.test.mjs THREADKIT OUT_DIR          the tests (from the repository root)
//   node tests/browser/report.test.mjs --load REPORT.html [RUNS]  time to a usable page (bench/report.sh)
import { chromium } from "playwright-core";
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

const FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
  "--disable-component-update", "--disable-sync"];
const launch = () => chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", headless: true, args: FLAGS });

if (process.argv[2] === "--load") {
  const url = pathToFileURL(resolve(process.argv[3])).href;
  const runs = Number(process.argv[4] || 3);
  const browser = await launch();
  const times = [];
  for (let i = 0; i < runs; i++) {
    const page = await browser.newPage();
    const t0 = Date.now();
    await page.goto(url, { waitUntil: "load", timeout: 120000 });
    await page.waitForFunction(() => /threads$/.test(document.getElementById("shown-count").textContent));
    times.push(Date.now() - t0);
    // Opening one thread and filtering: the interactions a reader starts with.
    const t1 = Date.now();
    await page.evaluate(() => { location.hash = "t=0"; });
    await page.waitForSelector("#viewer:not([hidden]) .step");
    await page.selectOption("#f-correct", "false");
    const interact = Date.now() - t1;
    console.log(`run ${i + 1}: usable after ${times.at(-1)} ms; open a thread + filter ${interact} ms`);
    await page.close();
  }
  times.sort((a, b) => a - b);
  console.log(`median load ${times[Math.floor(times.length / 2)]} ms over ${runs} runs`);
  await browser.close();
  process.exit(0);
}

const [threadkit, outDir] = process.argv.slice(2);
if (!threadkit || !outDir) {
  console.error("usage: node tests/browser/report.test.mjs THREADKIT OUT_DIR");
  process.exit(2);
}
mkdirSync(outDir, { recursive: true });
const inputs = ["fixtures/threads", "fixtures/report/threads"];
const reportPath = resolve(outDir, "report.html");
execFileSync(threadkit, ["report", ...inputs, "--data-root", "fixtures/datasets", "--out", reportPath, "-q"], { stdio: "inherit" });
const stats = JSON.parse(execFileSync(threadkit, ["stats", "--format", "json", ...inputs]).toString());

let failures = 0;
const check = async (name, f) => {
  // Each check starts from the page as loaded: no thread open, no filter.
  await page.evaluate(() => { if (location.hash) document.getElementById("close").click(); });
  try {
    await f();
    console.log(`ok   ${name}`);
  } catch (e) {
    failures++;
    console.log(`FAIL ${name}\n     ${e.message}`);
  }
};
const assert = (cond, msg) => { if (!cond) throw new Error(msg); };
const eq = (a, b, msg) => assert(JSON.stringify(a) === JSON.stringify(b), `${msg}: ${JSON.stringify(a)} != ${JSON.stringify(b)}`);

const browser = await launch();
const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
const problems = [];
page.on("console", (m) => { if (m.type() === "error" || m.type() === "warning") problems.push(`console ${m.type()}: ${m.text()}`); });
page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
page.on("request", (r) => { if (!/^(file|data|about):/.test(r.url())) problems.push(`network request: ${r.url()}`); });
await page.goto(pathToFileURL(reportPath).href, { waitUntil: "load" });
const rows = await page.evaluate(() => JSON.parse(document.getElementById("rows").textContent));

await check("totals in the page equal `stats --format json`", async () => {
  const shown = await page.$$eval("[data-total]", (els) => Object.fromEntries(els.map((e) => [e.dataset.total, Number(e.textContent)])));
  for (const key of ["files", "threads", "unreadable", "judged", "correct", "tool_calls", "tool_errors"]) eq(shown[key], stats[key], key);
  eq(shown.tokens_mean, stats.tokens.mean, "tokens_mean");
  eq(shown.valid + shown.invalid, stats.threads, "valid + invalid");
  for (const map of ["by_version", "by_status"]) {
    const table = await page.$$eval(`table[data-map=${map}] tr`, (trs) => Object.fromEntries(trs.map((tr) => [tr.cells[0].textContent, Number(tr.cells[1].textContent)])));
    eq(table, stats[map], map);
  }
});

await check("every thread is in the table (rows render a page at a time)", async () => {
  assert((await page.$$("#thread-table tbody tr")).length === Math.min(100, stats.threads), "first page");
  while (await page.isVisible("#more")) await page.click("#more");
  const ids = await page.$$eval("#thread-table tbody tr", (trs) => trs.map((tr) => tr.dataset.id));
  eq(ids.length, stats.threads, "rows");
  eq([...ids].sort(), rows.map((r) => r.id).sort(), "ids");
  for (const id of ["basic_motions_test_0013_v4_9001", "uci_har_train_01_0000_v4_0001"]) assert(ids.includes(id), `${id} missing`);
});

await check("charts are drawn, one bar per label and dataset", async () => {
  const charts = await page.$$eval("svg.chart", (s) => s.map((c) => c.classList[1]));
  for (const c of ["by-dataset", "by-label", "turns", "calls", "tool-usage", "tool-errors", "tokens", "calibration", "accuracy"]) assert(charts.includes(c), `no ${c} chart`);
  eq((await page.$$("svg.chart.by-label rect")).length, Object.keys(stats.by_label).length, "label bars");
  eq((await page.$$("svg.chart.by-dataset rect")).length, Object.keys(stats.by_dataset).length, "dataset bars");
  const cells = await page.$$eval("table.confusion td", (tds) => tds.reduce((n, td) => n + Number(td.textContent || 0), 0));
  const confusion = Object.values(stats.confusion).reduce((n, row) => n + Object.values(row).reduce((a, b) => a + b, 0), 0);
  eq(cells, confusion, "confusion matrix total");
  const bars = await page.$$eval("svg.chart rect", (rs) => rs.filter((r) => r.getBBox().width > 0).length);
  assert(bars > 10, `only ${bars} visible bars`);
});

await check("filtering by label, correctness and search narrows the table", async () => {
  const label = Object.entries(stats.by_label).sort((a, b) => b[1] - a[1])[0][0];
  await page.selectOption("#f-label", label);
  const labels = await page.$$eval("#thread-table tbody tr", (trs) => trs.map((tr) => tr.cells[3].textContent));
  assert(labels.length > 0 && labels.every((l) => l === label), `rows not all ${label}: ${labels}`);
  const count = await page.textContent("#shown-count");
  assert(count.startsWith(`${Math.min(stats.by_label[label], rows.length)} of ${stats.threads}`), count);
  await page.selectOption("#f-label", "");
  await page.selectOption("#f-correct", "false");
  const wrong = rows.filter((r) => r.correct === false).length;
  assert((await page.textContent("#shown-count")).startsWith(`${wrong} of`), "wrong answers");
  await page.selectOption("#f-correct", "");
  await page.fill("#q", "v4_9001");
  await page.waitForFunction(() => document.getElementById("shown-count").textContent.startsWith("1 of"));
  await page.fill("#q", "");
  await page.waitForFunction((n) => document.getElementById("shown-count").textContent.startsWith(`${n} of`), stats.threads);
  await page.check("#f-findings");
  const withFindings = rows.filter((r) => r.errors + r.warnings > 0).length;
  assert((await page.textContent("#shown-count")).startsWith(`${withFindings} of`), "with findings");
  await page.uncheck("#f-findings");
});

await check("sorting by a column orders the rows", async () => {
  await page.click("th[data-key=tokens]");
  const tokens = await page.$$eval("#thread-table tbody tr", (trs) => trs.map((tr) => tr.cells[9].textContent).filter((t) => t !== "—").map(Number));
  eq(tokens, [...tokens].sort((a, b) => a - b), "ascending tokens");
  await page.click("th[data-key=tokens]");
  const down = await page.$$eval("#thread-table tbody tr", (trs) => trs.map((tr) => tr.cells[9].textContent).filter((t) => t !== "—").map(Number));
  eq(down, [...down].sort((a, b) => b - a), "descending tokens");
});

await check("a thread opens with its transcript, recording plots and replay status", async () => {
  await page.fill("#q", "v4_9001");
  await page.click("#thread-table tbody tr[data-id$=v4_9001]");
  await page.waitForFunction(() => document.getElementById("viewer-title").textContent.includes("v4_9001"));
  await page.waitForSelector("#viewer:not([hidden])");
  const steps = await page.$$eval("#transcript .step", (s) => s.map((e) => e.classList[1]));
  eq(steps.filter((s) => s === "call").length, 3, "calls");
  eq(steps.filter((s) => s === "result").length, 3, "results");
  const plots = await page.$$eval("#transcript svg.plot", (s) => s.map((p) => p.querySelectorAll("polyline").length));
  eq(plots, [3, 3, 3], "plots (3 accelerometer channels each)");
  const box = await page.$eval("#transcript svg.plot polyline", (p) => { const b = p.getBBox(); return { width: b.width, height: b.height }; });
  assert(box.width > 100 && box.height > 5, `plot line is drawn: ${JSON.stringify(box)}`);
  const replay = await page.$$eval("#transcript .replay", (s) => s.map((e) => e.textContent));
  eq(replay, ["replay: reproduced", "replay: reproduced", "replay: reproduced"], "replay");
  await page.screenshot({ path: resolve(outDir, "thread.png") });
  await page.click("#close");
  assert(await page.isHidden("#viewer"), "closes");
  await page.fill("#q", "v4_9002");
  await page.click("#thread-table tbody tr[data-id$=v4_9002]");
  await page.waitForFunction(() => document.getElementById("viewer-title").textContent.includes("v4_9002"));
  const tampered = await page.$$eval("#transcript .replay", (s) => s.map((e) => e.textContent));
  assert(tampered.includes("replay: differs"), `tampered thread: ${tampered}`);
  const text = await page.textContent("#transcript");
  assert(text.includes("</script><script>alert('x')</script> <b>bold?</b>"), "hostile text shown as text");
  eq(await page.$$("#transcript b"), [], "no markup from thread text");
  await page.click("#close");
  await page.fill("#q", "");
});

await check("the table works from the keyboard (a focused row opens with Enter, Escape closes, Enter on a head sorts)", async () => {
  await page.fill("#q", "v4_9001");
  await page.waitForSelector("#thread-table tbody tr[data-id$=v4_9001]");
  await page.focus("#thread-table tbody tr[data-id$=v4_9001]");
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => document.getElementById("viewer-title").textContent.includes("v4_9001"));
  await page.keyboard.press("Escape");
  assert(await page.isHidden("#viewer"), "Escape closes the thread");
  await page.fill("#q", "");
  await page.focus("th[data-key=turns]");
  await page.keyboard.press("Enter");
  assert(await page.$eval("th[data-key=turns]", (th) => th.classList.contains("asc")), "Enter sorts");
});

await check("the quality section's worst thread opens with its quality findings", async () => {
  const first = page.locator("#worst li a").first();
  const href = await first.getAttribute("href");
  const n = Number(href.slice("#t=".length));
  const codes = await page.$$eval("#worst li:first-child code", (cs) => cs.map((c) => c.textContent).filter((c) => /^TKQ/.test(c)));
  assert(codes.length > 0, "the worst thread names its rules");
  await first.click();
  await page.waitForSelector("#viewer:not([hidden])");
  assert((await page.textContent("#viewer-title")).includes(rows[n].place), "the viewer shows the listed thread");
  const shown = await page.$$eval("#transcript .finding", (fs) => fs.map((f) => f.textContent));
  for (const code of codes) assert(shown.some((t) => t.includes(code)), `${code} is shown in the thread: ${shown}`);
  await page.click("#close");
});

await check("a finding's link opens its thread at its message", async () => {
  const withMessage = await page.evaluate(() => JSON.parse(document.getElementById("findings-data").textContent).find((f) => f.thread !== null && f.message_index !== null));
  assert(withMessage, "a finding that points into a message");
  await page.click(`details[data-code=${withMessage.code}] summary`);
  const link = page.locator(`details[data-code=${withMessage.code}] .items a[href="#t=${withMessage.thread}&m=${withMessage.message_index}"]`).first();
  await link.click();
  await page.waitForSelector("#viewer:not([hidden])");
  const title = await page.textContent("#viewer-title");
  assert(title.includes(rows[withMessage.thread].place), title);
  const target = await page.$$eval(".step.target", (s) => s.map((e) => Number(e.dataset.message)));
  const top = await page.$$("#transcript > .finding");
  assert(target.includes(withMessage.message_index) || top.length > 0, `no target step: ${target}`);
  await page.click("#close");
});

await check("the page is not blank (screenshot)", async () => {
  await page.evaluate(() => window.scrollTo(0, 0));
  const png = await page.screenshot({ path: resolve(outDir, "overview.png"), fullPage: false });
  const ink = await page.evaluate(async (b64) => {
    const img = new Image();
    img.src = "data:image/png;base64," + b64;
    await img.decode();
    const c = document.createElement("canvas");
    c.width = img.width; c.height = img.height;
    const g = c.getContext("2d");
    g.drawImage(img, 0, 0);
    const d = g.getImageData(0, 0, c.width, c.height).data;
    let dark = 0, colors = new Set();
    for (let i = 0; i < d.length; i += 16) {
      if (d[i] + d[i + 1] + d[i + 2] < 600) dark++;
      colors.add((d[i] >> 4) * 256 + (d[i + 1] >> 4) * 16 + (d[i + 2] >> 4));
    }
    return { share: dark / (d.length / 16), colors: colors.size };
  }, png.toString("base64"));
  assert(ink.share > 0.02 && ink.colors > 20, `looks blank: ${JSON.stringify(ink)}`);
});

await check("no console errors, no page errors, no network requests", async () => {
  eq(problems, [], "problems");
});

await browser.close();
writeFileSync(resolve(outDir, "browser-test.txt"), failures ? "failed\n" : "passed\n");
if (failures) {
  console.log(`${failures} check(s) failed`);
  process.exit(1);
}
console.log("all browser checks passed");
