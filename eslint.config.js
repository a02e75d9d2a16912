// pnpm lint: typescript-eslint's recommended rules, plus the layering of docs/architecture.md as import rules.
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

// docs/architecture.md, "packages/core, folder by folder": the folders of packages/core/src each folder may
// import. 'graph (types)' allows `import type` only.
const coreMayImport = {
  errors: [],
  graph: ['errors'],
  io: ['errors'],
  onnx: ['errors', 'graph', 'io'],
  data: ['errors', 'graph (types)', 'io'],
  interpreter: ['errors', 'graph'],
  gating: ['errors', 'graph', 'interpreter'],
  train: ['errors', 'graph', 'io', 'onnx', 'data', 'interpreter', 'gating', 'metrics'],
  metrics: ['errors', 'graph', 'io', 'onnx', 'data', 'interpreter', 'gating'],
  sweep: ['errors', 'graph', 'io', 'onnx', 'data', 'interpreter', 'gating', 'train', 'metrics'],
  inspect: ['errors', 'graph', 'io', 'onnx', 'data', 'interpreter', 'gating', 'metrics'],
  engines: ['errors', 'graph', 'io', 'onnx', 'data', 'interpreter', 'gating'],
};

// Packages: cli → exporters → core, and cli → core; only core's public entry outside core.
const packageRules = {
  core: [
    { regex: '^@pg/(exporters|cli)(/|$)', message: 'core never imports exporters or cli (docs/architecture.md).' },
    { regex: '^(\\.\\./)+(exporters|cli)/', message: 'core never imports exporters or cli (docs/architecture.md).' },
  ],
  exporters: [
    { regex: '^@pg/cli(/|$)', message: 'exporters never import cli (docs/architecture.md).' },
    { regex: '^(\\.\\./)+(cli|core)/', message: 'Import other packages by name (@pg/core), not by path.' },
    { regex: '^@pg/core/.', message: "Use @pg/core's public entry (docs/library.md); @pg/core/internal is for core's tests and benches." },
  ],
  cli: [
    { regex: '^(\\.\\./)+(exporters|core)/', message: 'Import other packages by name (@pg/core, @pg/exporters), not by path.' },
    { regex: '^@pg/core/.', message: "Use @pg/core's public entry (docs/library.md); @pg/core/internal is for core's tests and benches." },
  ],
};

const coreFolders = Object.keys(coreMayImport);

// The folder rules below match a relative import by the first folder name it reaches after its '../'s
// ('../../onnx/dtype.js'), which is right only while no folder inside a core folder reuses a core folder's name.
const coreSrc = join(import.meta.dirname, 'packages/core/src');
for (const entry of readdirSync(coreSrc, { recursive: true, withFileTypes: true })) {
  const nested = entry.isDirectory() && entry.parentPath !== coreSrc;
  if (nested && coreFolders.includes(entry.name)) {
    const where = relative(import.meta.dirname, join(entry.parentPath, entry.name));
    throw new Error(`eslint.config.js: ${where} is named like a folder of packages/core/src; the import rules would mistake it`);
  }
}
const missing = readdirSync(coreSrc, { withFileTypes: true })
  .filter((e) => e.isDirectory() && !coreFolders.includes(e.name))
  .map((e) => e.name);
if (missing.length > 0) {
  throw new Error(`eslint.config.js: add ${missing.join(', ')} to coreMayImport (and to docs/architecture.md's table)`);
}

function coreFolderRules(folder) {
  const allowed = coreMayImport[folder];
  const patterns = [...packageRules.core];
  for (const other of coreFolders) {
    if (other === folder || allowed.includes(other)) continue;
    const typesOnly = allowed.includes(`${other} (types)`);
    patterns.push({
      regex: `^(\\.\\./)+${other}/`,
      allowTypeImports: typesOnly,
      message: `core/${folder} may import ${allowed.join(', ') || 'nothing'} (docs/architecture.md), not ${other}${typesOnly ? ' values' : ''}.`,
    });
  }
  return {
    files: [`packages/core/src/${folder}/**/*.ts`],
    ignores: ['**/*.test.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns }] },
  };
}

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', '.cache/**', 'out/**', 'packages/native-kernels/build/**'] },
  { linterOptions: { reportUnusedDisableDirectives: 'error' } },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      // `const { a: _a, ...rest } = o` is how a key is left out of a copy.
      '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true }],
    },
  },
  ...coreFolders.map(coreFolderRules),
  {
    files: ['packages/core/src/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: packageRules.core }] },
  },
  {
    files: ['packages/exporters/src/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: packageRules.exporters }] },
  },
  {
    files: ['packages/cli/src/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: packageRules.cli }] },
  },
  {
    // About 80 lines at most: a longer function in core says why it must be (an eslint-disable comment).
    files: ['packages/core/src/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: { 'max-lines-per-function': ['error', { max: 80, skipBlankLines: true, skipComments: true }] },
  },
);
