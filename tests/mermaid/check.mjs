// Feeds Mermaid diagrams to the real Mermaid parser (`mermaid.parse`), the one GitHub and
// GitLab run before they draw. Input on stdin: JSON, an array of {"name": ..., "text": ...}.
// Output: one line per diagram, `ok NAME` or `error NAME: MESSAGE`; exit 1 if any failed.
import { JSDOM } from 'jsdom';

// mermaid sanitises labels with DOMPurify, which needs a window; nothing is drawn.
const { window } = new JSDOM('<!doctype html><html><body></body></html>');
globalThis.window = window;
globalThis.document = window.document;
globalThis.DOMParser = window.DOMParser;
globalThis.Element = window.Element;
globalThis.HTMLElement = window.HTMLElement;

const { default: mermaid } = await import('mermaid');
mermaid.initialize({ startOnLoad: false, securityLevel: 'strict' });

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const diagrams = JSON.parse(Buffer.concat(chunks).toString('utf8'));
if (!Array.isArray(diagrams)) {
  console.error('expected a JSON array of {name, text}');
  process.exit(2);
}
let failed = 0;
for (const { name, text } of diagrams) {
  try {
    const result = await mermaid.parse(text);
    if (!result || result.diagramType !== 'flowchart-v2') {
      throw new Error(`parsed as ${result && result.diagramType}, not a flowchart`);
    }
    console.log(`ok ${name}`);
  } catch (e) {
    failed += 1;
    console.log(`error ${name}: ${String(e && e.message ? e.message : e).replace(/\n/g, ' ')}`);
  }
}
process.exit(failed ? 1 : 0);
