// Parse an AsyncAPI document with the official parser and print its diagnostics as JSON
// (one array): severity 0 is an error, 1 a warning, 2 information, 3 a hint.
import { readFile } from "node:fs/promises";
import { Parser } from "@asyncapi/parser";

const [file] = process.argv.slice(2);
if (!file) {
  console.error("usage: node asyncapi.mjs FILE");
  process.exit(2);
}
const parser = new Parser();
const { document, diagnostics } = await parser.parse(await readFile(file, "utf8"));
const found = diagnostics.map((d) => ({
  severity: d.severity,
  code: d.code,
  path: d.path.join("/"),
  message: d.message,
}));
console.log(JSON.stringify({ parsed: document !== undefined, diagnostics: found }));
