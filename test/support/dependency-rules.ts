import { posix } from 'node:path';
import { type Arrow, COMPUTED_IMPORT } from './import-arrows.js';

/**
 * The layers of docs/architecture.md, by the folder under `src/`: an arrow
 * points to a lower layer or stays in its folder. `index.ts` is the package
 * root, src/index.ts. events/ and conversations/ are planned.
 */
export const LAYERS: Readonly<Record<string, number>> = {
  cli: 6,
  gateway: 5,
  'index.ts': 4,
  events: 3,
  conversations: 3,
  http: 2,
  tokens: 2,
  keys: 2,
  anomaly: 2,
  stores: 1,
  core: 0,
};

/** Each backend's driver, and the one folder that may import it. */
export const DRIVERS: Readonly<Record<string, string>> = {
  'better-sqlite3': 'src/stores/sqlite/',
  pg: 'src/stores/postgres/',
  redis: 'src/stores/redis/',
  '@nats-io/jetstream': 'src/events/',
  '@nats-io/transport-node': 'src/events/',
  amqplib: 'src/events/',
};

/** Files used from outside their folder without its index.ts, each listed in docs/architecture.md. */
export const INDEX_EXCEPTIONS: readonly { from: RegExp; to: string }[] = [
  // What backends share but the package root must not export, so core/index.ts cannot carry it.
  { from: /^src\/stores\/[^/]+\//, to: 'src/core/backend-kit.ts' },
  // The broker sinks load their drivers and word their failures as the backends do.
  { from: /^src\/events\//, to: 'src/core/backend-kit.ts' },
];

/** One line per arrow that breaks a rule: `from → to: rule`. `files` are all the files there are. */
export function violations(arrows: readonly Arrow[], files: readonly string[]): string[] {
  const known = new Set(files);
  const lines = arrows.flatMap(({ from, to }) => {
    const rule = brokenRule(from, to, known);
    return rule ? [`${from} → ${to}: ${rule}`] : [];
  });
  return [...new Set(lines)];
}

function brokenRule(from: string, to: string, files: ReadonlySet<string>): string | null {
  if (to === COMPUTED_IMPORT)
    return 'a computed specifier cannot be checked; import a literal path';
  if (!to.startsWith('src/')) return brokenDriverRule(from, to);
  if (!files.has(to)) return 'names no .ts file under src/';
  const source = areaOf(from);
  const target = areaOf(to);
  for (const area of [source, target]) {
    if (LAYERS[area] === undefined) return `${label(area)} has no layer in docs/architecture.md`;
  }
  if (to === 'src/index.ts') return 'nothing in src/ imports the package root';
  if (source !== target) {
    if (source === 'core') return 'core/ imports nothing outside core/';
    if (target === 'gateway' && source !== 'cli') return 'only cli/ imports gateway/';
    const up = (LAYERS[source] as number) - (LAYERS[target] as number);
    if (up < 0) return `runs up from ${label(source)} to ${label(target)}`;
    if (up === 0) return `runs sideways between ${label(source)} and ${label(target)}`;
  } else if (source === 'stores') {
    const fromBackend = backendOf(from);
    const toBackend = backendOf(to);
    if (fromBackend && toBackend && fromBackend !== toBackend)
      return `runs sideways between the backends ${fromBackend}/ and ${toBackend}/`;
    if (fromBackend && !toBackend) return 'a backend folder imports stores/ top level';
  }
  const entered = folderEntered(from, to, files);
  if (entered && to !== `${entered}/index.ts` && !isException(from, to))
    return `reaches into ${entered}/ instead of its index.ts`;
  return null;
}

function brokenDriverRule(from: string, specifier: string): string | null {
  const [scopeOrName, name] = specifier.split('/');
  const pkg = scopeOrName?.startsWith('@') ? `${scopeOrName}/${name}` : (scopeOrName as string);
  const home = DRIVERS[pkg];
  return home && !from.startsWith(home) ? `the ${pkg} driver is imported only in ${home}` : null;
}

/** The folder right under src/, or the file's own name for a file directly in src/. */
function areaOf(file: string): string {
  return file.split('/')[1] as string;
}

function label(area: string): string {
  return area.endsWith('.ts') ? `src/${area}` : `${area}/`;
}

function backendOf(file: string): string | null {
  return /^src\/stores\/([^/]+)\//.exec(file)?.[1] ?? null;
}

/**
 * The outermost folder with an index.ts that holds `to` but not `from`: the
 * arrow enters it, so it must land on that index.ts. A subfolder without an
 * index.ts (http/adapters/) is part of its parent, not a folder of its own.
 */
function folderEntered(from: string, to: string, files: ReadonlySet<string>): string | null {
  const parts = posix.dirname(to).split('/');
  for (let depth = 2; depth <= parts.length; depth++) {
    const folder = parts.slice(0, depth).join('/');
    if (!from.startsWith(`${folder}/`) && files.has(`${folder}/index.ts`)) return folder;
  }
  return null;
}

function isException(from: string, to: string): boolean {
  return INDEX_EXCEPTIONS.some((exception) => exception.to === to && exception.from.test(from));
}
