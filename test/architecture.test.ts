import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { INDEX_EXCEPTIONS, violations } from './support/dependency-rules.js';
import { arrowsOf, COMPUTED_IMPORT, sourceFiles, specifiersOf } from './support/import-arrows.js';

// The dependency rule of docs/architecture.md, checked on every import in src/.
const files = sourceFiles('src');
const arrows = arrowsOf(files);
const isPackage = (to: string) => !to.startsWith('src/') && to !== COMPUTED_IMPORT;

describe('the dependency rule', () => {
  it('every import between files of src/ points down a layer, stays in its folder, or enters a folder through its index.ts', () => {
    expect(
      violations(
        arrows.filter(({ to }) => !isPackage(to)),
        files,
      ),
    ).toEqual([]);
  });

  it('a driver package is imported only by its backend folder', () => {
    expect(
      violations(
        arrows.filter(({ to }) => isPackage(to)),
        files,
      ),
    ).toEqual([]);
  });

  it('every folder under src/ but cli/, and every backend folder, has an index.ts to enter by', () => {
    const paths = files.map((file) => file.split('/'));
    const folders = new Set([
      ...paths.filter((parts) => parts.length > 2).map(([, area]) => `src/${area}`),
      ...paths
        .filter(([, area, , file]) => area === 'stores' && file)
        .map(([, , backend]) => `src/stores/${backend}`),
    ]);
    folders.delete('src/cli');
    expect([...folders].filter((folder) => !existsSync(`${folder}/index.ts`))).toEqual([]);
  });

  it('lists every exception in docs/architecture.md', () => {
    const doc = readFileSync('docs/architecture.md', 'utf8');
    const unlisted = INDEX_EXCEPTIONS.filter(({ to }) => !doc.includes(to.slice('src/'.length)));
    expect(unlisted).toEqual([]);
  });
});

describe('the dependency checker', () => {
  const tree = [
    'src/index.ts',
    'src/cli/main.ts',
    'src/gateway/index.ts',
    'src/gateway/server.ts',
    'src/gateway/auth/index.ts',
    'src/gateway/auth/users.ts',
    'src/http/index.ts',
    'src/http/cookies.ts',
    'src/http/adapters/node.ts',
    'src/tokens/index.ts',
    'src/keys/index.ts',
    'src/stores/index.ts',
    'src/stores/open.ts',
    'src/stores/memory/index.ts',
    'src/stores/redis/index.ts',
    'src/stores/redis/lease.ts',
    'src/core/index.ts',
    'src/core/store.ts',
    'src/core/backend-kit.ts',
    'src/widgets/index.ts',
  ];
  const arrow = (from: string, to: string) => ({ from, to });

  it('passes arrows that point down, stay inside a folder or enter one through its index.ts', () => {
    const good = [
      arrow('src/cli/main.ts', 'src/gateway/index.ts'),
      arrow('src/cli/main.ts', 'src/core/index.ts'),
      arrow('src/gateway/server.ts', 'src/gateway/auth/index.ts'),
      arrow('src/gateway/auth/users.ts', 'src/gateway/server.ts'),
      arrow('src/gateway/server.ts', 'src/stores/index.ts'),
      arrow('src/index.ts', 'src/http/index.ts'),
      arrow('src/http/index.ts', 'src/http/adapters/node.ts'),
      arrow('src/http/adapters/node.ts', 'src/http/cookies.ts'),
      arrow('src/tokens/index.ts', 'src/stores/index.ts'),
      arrow('src/stores/open.ts', 'src/stores/redis/index.ts'),
      arrow('src/stores/redis/lease.ts', 'src/stores/redis/index.ts'),
      arrow('src/stores/redis/lease.ts', 'src/core/index.ts'),
      arrow('src/stores/redis/lease.ts', 'src/core/backend-kit.ts'),
      arrow('src/stores/redis/lease.ts', 'redis'),
      arrow('src/core/index.ts', 'src/core/store.ts'),
      arrow('src/gateway/server.ts', 'fastify'),
      arrow('src/core/store.ts', 'node:crypto'),
    ];
    expect(violations(good, tree)).toEqual([]);
  });

  it('reports every arrow that breaks a rule, with the rule it breaks', () => {
    const bad = [
      arrow('src/core/store.ts', 'src/stores/index.ts'),
      arrow('src/stores/open.ts', 'src/http/index.ts'),
      arrow('src/http/cookies.ts', 'src/tokens/index.ts'),
      arrow('src/keys/index.ts', 'src/gateway/index.ts'),
      arrow('src/index.ts', 'src/gateway/index.ts'),
      arrow('src/gateway/server.ts', 'src/index.ts'),
      arrow('src/stores/memory/index.ts', 'src/stores/redis/index.ts'),
      arrow('src/stores/redis/lease.ts', 'src/stores/open.ts'),
      arrow('src/stores/open.ts', 'src/stores/redis/lease.ts'),
      arrow('src/cli/main.ts', 'src/gateway/auth/index.ts'),
      arrow('src/gateway/server.ts', 'src/stores/redis/index.ts'),
      arrow('src/stores/open.ts', 'src/core/backend-kit.ts'),
      arrow('src/tokens/index.ts', 'redis'),
      arrow('src/stores/memory/index.ts', 'pg'),
      arrow('src/cli/main.ts', 'src/widgets/index.ts'),
      arrow('src/http/cookies.ts', 'src/http/missing.ts'),
      arrow('src/stores/open.ts', COMPUTED_IMPORT),
    ];
    expect(violations(bad, tree)).toEqual([
      'src/core/store.ts → src/stores/index.ts: core/ imports nothing outside core/',
      'src/stores/open.ts → src/http/index.ts: runs up from stores/ to http/',
      'src/http/cookies.ts → src/tokens/index.ts: runs sideways between http/ and tokens/',
      'src/keys/index.ts → src/gateway/index.ts: only cli/ imports gateway/',
      'src/index.ts → src/gateway/index.ts: only cli/ imports gateway/',
      'src/gateway/server.ts → src/index.ts: nothing in src/ imports the package root',
      'src/stores/memory/index.ts → src/stores/redis/index.ts: runs sideways between the backends memory/ and redis/',
      'src/stores/redis/lease.ts → src/stores/open.ts: a backend folder imports stores/ top level',
      'src/stores/open.ts → src/stores/redis/lease.ts: reaches into src/stores/redis/ instead of its index.ts',
      'src/cli/main.ts → src/gateway/auth/index.ts: reaches into src/gateway/ instead of its index.ts',
      'src/gateway/server.ts → src/stores/redis/index.ts: reaches into src/stores/ instead of its index.ts',
      'src/stores/open.ts → src/core/backend-kit.ts: reaches into src/core/ instead of its index.ts',
      'src/tokens/index.ts → redis: the redis driver is imported only in src/stores/redis/',
      'src/stores/memory/index.ts → pg: the pg driver is imported only in src/stores/postgres/',
      'src/cli/main.ts → src/widgets/index.ts: widgets/ has no layer in docs/architecture.md',
      'src/http/cookies.ts → src/http/missing.ts: names no .ts file under src/',
      `src/stores/open.ts → ${COMPUTED_IMPORT}: a computed specifier cannot be checked; import a literal path`,
    ]);
  });

  it('finds imports, type imports, re-exports, import() calls and import types', () => {
    const text = [
      "import { a } from './a.js';",
      "import type { B } from '../b/index.js';",
      "export * from './c.js';",
      "export { d } from './d.js';",
      "const e = await import('./e.js');",
      "let f: typeof import('./f.js');",
      'const g = await import(name);',
      "const h = 'not an import';",
    ].join('\n');
    expect(specifiersOf('src/x/y.ts', text)).toEqual([
      './a.js',
      '../b/index.js',
      './c.js',
      './d.js',
      './e.js',
      './f.js',
      COMPUTED_IMPORT,
    ]);
  });
});
