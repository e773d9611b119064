// typescript-eslint's recommended rules over the sources, tests, benchmarks and scripts (npm run
// lint; scripts/test.sh runs it before the tests). Type checking itself is tsc's job
// (tsconfig.json, with noUnusedLocals), so these rules need no type information.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.cache/', '.services/', 'runs/', 'bench/out/', 'var/', 'models/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      // A leading underscore marks a value left out on purpose (`const { labels: _l, ...rest } = t`).
      '@typescript-eslint/no-unused-vars': ['error', {
        argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', ignoreRestSiblings: true,
      }],
      // `cond ? a++ : b++` counters in the metrics.
      '@typescript-eslint/no-unused-expressions': ['error', { allowTernary: true }],
    },
  },
  {
    // Tests and benchmarks read JSON response bodies of many shapes; the sources stay without `any`.
    files: ['test/**', 'bench/**'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
);
