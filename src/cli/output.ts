import type { CliIo } from './io.js';

/**
 * The one output convention of every command: with `--json`, one JSON
 * document on stdout for scripts; without it, text for people.
 */
export function printResult(io: CliIo, asJson: boolean | undefined, json: unknown, text: string) {
  io.stdout.write(asJson ? `${JSON.stringify(json)}\n` : text);
}

/** Columns padded to their widest cell, or `empty` (such as `No API keys.`) when there are no rows. */
export function table(header: string[], rows: string[][], empty: string): string {
  if (rows.length === 0) return `${empty}\n`;
  const all = [header, ...rows];
  const widths = header.map((_, column) => Math.max(...all.map((row) => row[column]?.length ?? 0)));
  return all
    .map((row) =>
      row
        .map((cell, column) => cell.padEnd(widths[column] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
    .concat('\n');
}

/** `label  value` lines, the labels padded to one width: one record, shown whole. */
export function fields(pairs: [label: string, value: string][]): string {
  const width = Math.max(...pairs.map(([label]) => label.length));
  return pairs.map(([label, value]) => `${label.padEnd(width)}  ${value}\n`).join('');
}

/** An epoch-ms time as ISO 8601, or `never`. */
export function when(ms: number | null): string {
  return ms === null ? 'never' : new Date(ms).toISOString();
}

const AGE_UNITS: [suffix: string, ms: number][] = [
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1_000],
];

/** A length of time in its largest whole unit, `3h`, `45s`; `-` for null. */
export function age(ms: number | null): string {
  if (ms === null) return '-';
  const [suffix, unit] = AGE_UNITS.find(([, unit]) => ms >= unit) ?? ['s', 1_000];
  return `${Math.floor(ms / unit)}${suffix}`;
}
