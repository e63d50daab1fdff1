// Opens an HTML report in headless Chromium (playwright-core) and prints, as
// one JSON object, what a person would see: the headline figures, every
// chart's series and point counts, tables' cells, console errors, and every
// network request the page made (a self-contained report makes none but
// itself). Used by crates/myriad-cli/tests/html_report.rs.
//
//   node inspect_report.js REPORT.html CHROMIUM_PATH [SCREENSHOT.png]
const path = require("path");
const { chromium } = require("playwright-core");

(async () => {
  const [file, executablePath, screenshot] = process.argv.slice(2);
  const browser = await chromium.launch({ executablePath, args: ["--no-sandbox"] });
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const errors = [];
    const requests = [];
    page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
    page.on("pageerror", (e) => errors.push(String(e)));
    page.on("request", (r) => requests.push(r.url()));
    const url = "file://" + path.resolve(file);
    await page.goto(url, { waitUntil: "load" });
    const seen = await page.evaluate(() => {
      const text = (sel) => { const e = document.querySelector(sel); return e ? e.textContent.trim() : null; };
      const charts = [...document.querySelectorAll("figure.chart")].map((f) => {
        const svg = f.querySelector("svg");
        const box = svg ? svg.getBoundingClientRect() : { width: 0, height: 0 };
        return {
          id: f.id,
          caption: f.querySelector("figcaption").textContent,
          width: box.width,
          height: box.height,
          series: [...f.querySelectorAll("polyline")].map((p) => ({
            name: p.dataset.series,
            points: p.getAttribute("points").trim().split(/\s+/).length,
          })),
          titles: [...f.querySelectorAll("circle > title")].length,
        };
      });
      const table = (id) => {
        const t = document.getElementById(id);
        return t ? [...t.querySelectorAll("tbody tr")].map((r) => [...r.cells].map((c) => c.textContent)) : null;
      };
      return {
        title: document.title,
        kpi: {
          rps: text("#kpi-rps b"),
          requests: text("#kpi-requests b"),
          p99: text("#kpi-p99 b"),
          thresholds: text("#kpi-thresholds b"),
        },
        charts,
        requests_table: table("requests"),
        thresholds: table("thresholds"),
        sections: [...document.querySelectorAll("h2")].map((h) => h.textContent),
        section0: table("section-0"),
        inputs: table("inputs"),
        scripts: document.querySelectorAll("script").length,
      };
    });
    if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
    seen.console_errors = errors;
    seen.network = requests.filter((r) => r !== url);
    process.stdout.write(JSON.stringify(seen));
  } finally {
    await browser.close();
  }
})().catch((e) => { console.error(String(e && e.stack || e)); process.exit(1); });
