/**
 * The one key of a username, for every use: the user table's key (and so the
 * `userId`), the look-up at login, and the per-account login counters.
 *
 * NFKC folds compatibility forms (fullwidth `Ａｌｉｃｅ`, the ligature `ﬁ`,
 * the Kelvin sign) into their plain letters; then case is folded. JavaScript
 * has no full case folding (Unicode CaseFolding.txt, status C+F), so it is
 * approximated by lower-, upper- and lower-casing again, locale-independently:
 * upper-casing applies the full (multi-character) mappings, such as `ß` →
 * `SS` → `ss` and `İ` → `i̇`, the first lower-casing lets capitals whose
 * folding goes through a small letter get there (`ẞ` → `ß` → `ss`), and the
 * round trip brings every case variant of a letter to one form (a word-final
 * sigma becomes `ς` however it was written). It folds a little more than
 * CaseFolding.txt (dotless `ı` becomes `i`), which only ever joins names,
 * never splits one. NFKC once more, because case mappings can leave a
 * sequence that is not normalized.
 */
export function usernameKey(username: string): string {
  return username
    .trim()
    .normalize('NFKC')
    .toLowerCase()
    .toUpperCase()
    .toLowerCase()
    .normalize('NFKC')
    .trim();
}

/**
 * The key this directory used before usernames were folded with NFKC (NFC and
 * lower case): users added then are still stored under it.
 */
export function legacyUsernameKey(username: string): string {
  return username.normalize('NFC').trim().toLowerCase().normalize('NFC');
}
