// ESLint (flat config): eslint's and typescript-eslint's recommended rules, without type information
// (fast enough to run on every change). Formatting is prettier's job (.prettierrc.json), not ESLint's.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// The floors of @imgbuild/core (docs/architecture.md draws them), lowest first. A room (a folder of
// packages/core/src) imports the ground (the files directly in src/) and the rooms of lower floors;
// within its own floor only what SIDEWAYS names. The ground imports no room. index.ts, the package's
// face, stands above them all. Tests are not held to this (a test may use any room to check another).
export const FLOORS = [
  ['gpt', 'verity', 'fs'], // codecs: bytes in, values out
  ['layout'], // the declarative disk
  ['boot', 'slot', 'rootfs'], // what goes on the disk: ESP and UKIs, A/B slot bits, the ROOT filesystem
  ['manifest'], // what was built, as data: schema, parse, record, upgrade
  ['verify', 'attest', 'sysext', 'qemu', 'picture', 'schemas'], // readers of images and manifests; runners
  ['image', 'signing'], // the pipeline: build and update, and signing in place
  ['config', 'feed'], // the build file: read, resolved with flags, and built through the pipeline
];
/** The package's face beside index.ts: public/ holds the subpath entries (`@imgbuild/core/gpt`, …). No room imports it. */
export const FACE = ['public'];
/** Imports within one floor that are allowed: room -> the files it may import there. */
const SIDEWAYS = {
  // verify and sign open a qemu_uefi bundle's disk; bundle.ts itself stands on the ground only.
  verify: ['qemu/bundle.js', 'attest/pcr.js'], // and verify predicts PCR 11 with attest's pure pcr.ts
  signing: ['qemu/bundle.js'],
  image: ['signing/plan.js', 'signing/sign-image.js'], // the pipeline signs what it builds
};
const floorOf = (room) => FLOORS.findIndex((f) => f.includes(room));
const escape = (t) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** One block per room: an import of a room on its floor or above is refused, but for SIDEWAYS. */
const floorRules = FLOORS.flat().map((room) => {
  const above = FLOORS.flat().filter((r) => r !== room && floorOf(r) >= floorOf(room));
  const allowed = (SIDEWAYS[room] ?? []).map((f) => `(?!\\.\\./${escape(f)}$)`).join('');
  return {
    files: [`packages/core/src/${room}/**/*.ts`],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: `^${allowed}\\.\\./(${[...above, ...FACE].join('|')}|index\\.js$)(/|$)`,
              message: `floors (docs/architecture.md): ${room}/ stands on floor ${floorOf(room) + 1} and imports only the ground and lower floors.`,
            },
          ],
        },
      ],
    },
  };
});
const groundRule = {
  files: ['packages/core/src/*.ts'],
  ignores: ['packages/core/src/index.ts', '**/*.test.ts'],
  rules: {
    'no-restricted-imports': [
      'error',
      { patterns: [{ group: ['./*/*', './index.js'], message: 'floors (docs/architecture.md): the ground (packages/core/src/*.ts) imports no room.' }] },
    ],
  },
};
const cliRule = {
  files: ['packages/cli/**/*.ts'],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: [
          {
            group: ['**/core/src/**', '@imgbuild/core/src/**', '**/core/dist/**'],
            message: 'floors (docs/architecture.md): the CLI reaches the library through the @imgbuild/core package, never its files.',
          },
        ],
      },
    ],
  },
};

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
  ...floorRules,
  groundRule,
  cliRule,
);
