// Parse each Mermaid file given on the command line with Mermaid itself (jsdom stands in for
// the browser); exit 1 naming every file Mermaid rejects.
import { JSDOM } from "jsdom";
import fs from "node:fs";
const dom = new JSDOM("<!doctype html><html><body></body></html>");
globalThis.window = dom.window; globalThis.document = dom.window.document;
const { default: mermaid } = await import("mermaid");
mermaid.initialize({ startOnLoad: false });
let failed = 0;
for (const f of process.argv.slice(2)) {
  try { await mermaid.parse(fs.readFileSync(f, "utf8")); console.log("ok", f); }
  catch (e) { failed++; console.log("INVALID", f, String(e.message || e).slice(0, 300)); }
}
process.exit(failed ? 1 : 0);
