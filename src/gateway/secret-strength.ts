/**
 * A small estimator of how hard a secret chosen by an operator is to guess,
 * for refusing a weak root credential at start. Hand-written rather than
 * zxcvbn, which carries several hundred kB of dictionaries to model human
 * passwords, while a root token should be machine-generated: what matters is to
 * catch the shapes a person types instead (a short alphabet, repeats,
 * sequences, a word said twice), and a few lines do that.
 *
 * The rule: `length × log2(alphabet)` bits, where the alphabet is the sum of
 * the character classes present (26 lower, 26 upper, 10 digits, 33 others),
 * and where a character that repeats the previous one, continues a run such as
 * `abc` or `321`, or sits in a repeat of an earlier stretch of three or more
 * characters does not count (a repeated stretch counts as one character).
 * It cannot see dictionary words, so it catches laziness, not every weak choice.
 */

export const MIN_SECRET_BITS = 128;
/** Fewer distinct characters than this means a tiny alphabet, whatever the classes suggest. */
export const MIN_DISTINCT_CHARACTERS = 10;

const CLASSES: { pattern: RegExp; size: number }[] = [
  { pattern: /[a-z]/, size: 26 },
  { pattern: /[A-Z]/, size: 26 },
  { pattern: /[0-9]/, size: 10 },
  { pattern: /[^a-zA-Z0-9]/, size: 33 },
];
const SHORTEST_COUNTED_REPEAT = 3;

/** Estimated bits of entropy of `secret`, by the rule above. */
export function estimatedEntropyBits(secret: string): number {
  const characters = [...secret];
  const alphabet = CLASSES.filter((cls) => characters.some((c) => cls.pattern.test(c))).reduce(
    (sum, cls) => sum + cls.size,
    0,
  );
  return alphabet < 2 ? 0 : unpredictableLength(characters) * Math.log2(alphabet);
}

/**
 * Why `secret` is too weak to guard the gateway, or null when it is strong
 * enough: at least MIN_SECRET_BITS estimated bits and MIN_DISTINCT_CHARACTERS
 * distinct characters.
 */
export function weakSecretReason(secret: string): string | null {
  const distinct = new Set(secret).size;
  if (distinct < MIN_DISTINCT_CHARACTERS)
    return `has ${distinct} distinct characters, at least ${MIN_DISTINCT_CHARACTERS} are needed`;
  const bits = Math.floor(estimatedEntropyBits(secret));
  if (bits < MIN_SECRET_BITS)
    return `has about ${bits} bits of estimated entropy, at least ${MIN_SECRET_BITS} are needed`;
  return null;
}

/** Characters an attacker cannot predict from those before them. */
function unpredictableLength(characters: string[]): number {
  const codes = characters.map((c) => c.codePointAt(0) ?? 0);
  let count = 0;
  let i = 0;
  while (i < codes.length) {
    const repeat = longestEarlierRepeat(codes, i);
    if (repeat >= SHORTEST_COUNTED_REPEAT) {
      count += 1;
      i += repeat;
      continue;
    }
    const step = (codes[i] ?? 0) - (codes[i - 1] ?? Number.NaN);
    const previousStep = (codes[i - 1] ?? 0) - (codes[i - 2] ?? Number.NaN);
    const predictable = step === 0 || (Math.abs(step) === 1 && step === previousStep);
    if (!predictable) count += 1;
    i += 1;
  }
  return count;
}

/** Length of the longest run starting at `at` that also starts at an earlier position. */
function longestEarlierRepeat(codes: number[], at: number): number {
  let longest = 0;
  for (let from = 0; from < at; from++) {
    let length = 0;
    while (at + length < codes.length && codes[from + length] === codes[at + length]) length++;
    longest = Math.max(longest, length);
  }
  return longest;
}
