import { describe, expect, it } from 'vitest';
import { usernameKey } from '../../../src/gateway/auth/index.js';

describe('usernameKey', () => {
  it.each([
    ['alice', 'alice'],
    ['  ALICE ', 'alice'],
    ['Ａｌｉｃｅ', 'alice'], // fullwidth letters
    ['\u212Aelvin', 'kelvin'], // Kelvin sign
    ['ﬁnn', 'finn'], // ligature
    ['Straße', 'strasse'],
    ['STRASSE', 'strasse'],
    ['ẞ', 'ss'], // capital sharp s
    ['İstanbul', 'i\u0307stanbul'], // Turkish capital I with dot: full folding keeps the dot
    ['e\u0301mile', 'émile'], // combining acute, composed
    ['ÉMILE', 'émile'],
    ['ΣΊΣΥΦΟΣ', 'σίσυφος'], // word-final sigma
    ['x²', 'x2'], // superscript
    ['ǅemal', 'džemal'], // titlecase digraph
  ])('keys %j as %j', (username, key) => {
    expect(usernameKey(username)).toBe(key);
  });

  it('gives every spelling of one name one key', () => {
    const spellings = ['alice', 'ALICE', 'Alice', 'Ａｌｉｃｅ', 'ＡＬＩＣＥ', ' alice\u3000'];
    expect(new Set(spellings.map(usernameKey))).toEqual(new Set(['alice']));
  });
});
