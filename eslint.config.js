// @ts-check
import eslint from '@eslint/js';
import prettier from 'eslint-config-prettier';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/**
 * The folders of src/, bottom first. A folder may import from folders of lower layers only:
 * never upwards, never a sibling of its own layer. `npm run deps` prints the graph.
 */
const LAYERS = [
  ['util', 'logging'],
  ['client', 'envtest'],
  ['cache', 'queue', 'lease'],
  ['events'],
  ['reconcile'],
  ['manager'],
  ['runtime'],
  ['registry'],
  ['lifecycle'],
  ['leader', 'sharding', 'remotecluster'],
  ['health', 'metrics'],
  ['module'],
  ['testing'],
  ['app'],
];
const FOLDERS = LAYERS.flat();

/** An import of one of `folders` from anywhere below src/<folder>/. */
const importOf = (folders) => `^(\\.\\./)+(${folders.join('|')})(/|$)`;

const layerRules = LAYERS.flatMap((layer, index) =>
  layer.map((folder) => {
    const above = [...LAYERS.slice(index).flat()].filter((f) => f !== folder);
    return {
      files: [`src/${folder}/**/*.ts`],
      rules: {
        'no-restricted-imports': [
          'error',
          {
            patterns: [
              {
                regex: importOf(above),
                message: `src/${folder} may import only from lower layers (LAYERS in eslint.config.js).`,
              },
            ],
          },
        ],
      },
    };
  }),
);

/** The app is the package's first consumer: only the public entry points. */
const appRule = {
  files: ['src/app/**/*.ts'],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: [
          {
            regex: `^(\\.\\./)+(?!index\\.js$)(?!testing/index\\.js$)(${FOLDERS.filter((f) => f !== 'app').join('|')})(/|$)`,
            message: 'The app imports only the public entry points: index.js and testing/index.js.',
          },
        ],
      },
    ],
  },
};

export default tseslint.config(
  // The user app of the package test is compiled in its own folder, against the packed package.
  { ignores: ['dist/**', 'coverage/**', 'node_modules/**', 'test/fixtures/**'] },
  eslint.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['*.js', 'test/harness/*.js', 'scripts/*.mjs'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      // A dropped promise in a controller is a silent stall: every promise is awaited or voided on purpose.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
    },
  },
  ...layerRules,
  appRule,
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { globals: globals.node },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/unbound-method': 'off',
    },
  },
  prettier,
);
