// Usage: mkdocs build --site-dir /tmp/site && node docs/_scripts/check_math.js $PWD/docs/assets/katex/katex.min.js /tmp/site
// Every \( \) and \[ \] in the built site's .arithmatex elements parses with the bundled KaTeX.
const fs = require("fs"), path = require("path");
const katex = require(process.argv[2]);
let n = 0, bad = 0;
function walk(d) { for (const f of fs.readdirSync(d)) { const p = path.join(d, f);
  if (fs.statSync(p).isDirectory()) walk(p); else if (p.endsWith(".html")) check(p); } }
function unescape(s) { return s.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&").replace(/&quot;/g, '"').replace(/&#39;/g, "'"); }
function check(p) {
  const html = fs.readFileSync(p, "utf8");
  const re = /class="arithmatex">([\s\S]*?)<\/(span|div)>/g; let m;
  while ((m = re.exec(html))) {
    let t = unescape(m[1]).trim(); let display = t.startsWith("\\[");
    t = t.replace(/^\\\[|\\\]$/g, "").replace(/^\\\(|\\\)$/g, "");
    n++;
    try { katex.renderToString(t, { displayMode: display, throwOnError: true }); }
    catch (e) { bad++; console.log(p, ":", e.message.slice(0, 150)); }
  }
}
walk(process.argv[3]);
console.log(`${n} formulas, ${bad} failed`);
