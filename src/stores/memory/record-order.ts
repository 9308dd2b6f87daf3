/**
 * Record keys sort by the bytes of their UTF-8 encoding (which is code point
 * order), as SQLite, PostgreSQL under `COLLATE "C"` and Redis's ZRANGEBYLEX
 * compare them. JavaScript's `<` compares UTF-16 code units instead, which
 * puts characters beyond U+FFFF before U+E000–U+FFFF.
 */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}
