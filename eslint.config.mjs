// ESLint (flat config): eslint's and typescript-eslint's recommended rules, without type information
// (fast enough to run on every change). Formatting is prettier's job (.prettierrc.json), not ESLint's.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/dist/**', 'node_modules/**', '.cache/**', 'out/**', 'packages/efi-select/**', 'packages/core/schemas/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: 'module',
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        URL: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
      },
    },
    rules: {
      // `_name` marks a value left unused on purpose (a destructured key dropped, a callback argument).
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', destructuredArrayIgnorePattern: '^_' },
      ],
      // Test fixtures and commander's untyped option bags; the compiler's strict mode does the real work.
      '@typescript-eslint/no-explicit-any': 'off',
      // `catch {}` with a comment saying why is this code base's way of ignoring an expected failure.
      'no-empty': ['error', { allowEmptyCatch: true }],
      // `let { a, b } = ...` where only one is reassigned stays one statement.
      'prefer-const': ['error', { destructuring: 'all' }],
    },
  },
);
