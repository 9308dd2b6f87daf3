import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  createCodec,
  DEFAULT_MAX_DATA_BYTES,
  DecodeError,
  generateEncryptionKey,
  Keyring,
  type SessionData,
  SessionDataTooLargeError,
  sealingKeyId,
} from '../../src/core/index.js';

const ID = 'a'.repeat(64);
const OTHER_ID = 'b'.repeat(64);

function ring(activeKeyId: string, keys: Record<string, string | Uint8Array>): Keyring {
  return new Keyring({ activeKeyId, keys });
}

function flipByte(bytes: Uint8Array, index: number): Uint8Array {
  const copy = Uint8Array.from(bytes);
  copy[index] = (copy[index] as number) ^ 0xff;
  return copy;
}

/** What `fn` throws, for asserting on an error's fields. */
function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

/** Bytes as a store would hold them: a format tag, then the serialized body. */
function storedJson(text: string): Uint8Array {
  return Buffer.concat([Buffer.from([0x01]), Buffer.from(text, 'utf8')]);
}

describe('codec: values that look like its own tags', () => {
  const lookalikes: SessionData = {
    date: { $date: '2024-02-29T12:00:00.000Z' },
    notADate: { $date: 'yesterday' },
    numericDate: { $date: 1_700_000_000_000 },
    escape: { $escape: { $date: '2024-02-29T12:00:00.000Z' } },
    escapedNumber: { $escape: 1 },
    doublyEscaped: { $escape: { $escape: { inner: true } } },
    inArray: [{ $date: '2020-01-01T00:00:00.000Z' }, { $escape: {} }],
    twoKeys: { $date: '2020-01-01T00:00:00.000Z', other: 1 },
    real: new Date(Date.UTC(2025, 5, 1, 8, 30)),
  };

  for (const format of ['json', 'msgpack'] as const) {
    it(`round-trips user objects shaped like { $date } or { $escape } exactly (${format})`, () => {
      const codec = createCodec({ format });
      const decoded = codec.decode(ID, codec.encode(ID, lookalikes));
      expect(decoded).toEqual(lookalikes);
      expect(decoded.date).not.toBeInstanceOf(Date);
      expect(decoded.date).toEqual({ $date: '2024-02-29T12:00:00.000Z' });
      expect(decoded.real).toBeInstanceOf(Date);
    });
  }

  it('round-trips session data whose root itself looks like a tag', () => {
    const codec = createCodec({ format: 'json' });
    const roots: SessionData[] = [{ $date: '2024-01-01T00:00:00.000Z' }, { $escape: { a: 1 } }];
    for (const data of roots) {
      expect(codec.decode(ID, codec.encode(ID, data))).toEqual(data);
    }
  });

  it('keeps a "__proto__" key in stored JSON as a plain key that pollutes nothing', () => {
    const decoded = createCodec().decode(ID, storedJson('{"__proto__":{"polluted":true}}'));
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
    expect(Object.keys(decoded)).toEqual(['__proto__']);
    expect((decoded as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('codec: switching format', () => {
  const data: SessionData = {
    user: { name: 'Ålice', roles: ['admin'] },
    at: new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 678)),
    n: 1.5,
    none: null,
  };

  it('reads JSON records with a codec that now writes MessagePack', () => {
    const blob = createCodec({ format: 'json' }).encode(ID, data);
    expect(createCodec({ format: 'msgpack' }).decode(ID, blob)).toEqual(data);
  });

  it('reads MessagePack records with a codec that now writes JSON', () => {
    const blob = createCodec({ format: 'msgpack' }).encode(ID, data);
    expect(createCodec({ format: 'json' }).decode(ID, blob)).toEqual(data);
  });

  it('reads encrypted records of either format whatever format it writes now', () => {
    const keyring = ring('k1', { k1: generateEncryptionKey() });
    const json = createCodec({ format: 'json', keyring });
    const msgpack = createCodec({ format: 'msgpack', keyring });
    expect(msgpack.decode(ID, json.encode(ID, data))).toEqual(data);
    expect(json.decode(ID, msgpack.encode(ID, data))).toEqual(data);
  });

  it('still reads plaintext records after encryption is turned on', () => {
    const plain = createCodec({ format: 'json' }).encode(ID, data);
    const encrypting = createCodec({ keyring: ring('k1', { k1: generateEncryptionKey() }) });
    expect(encrypting.decode(ID, plain)).toEqual(data);
  });

  it('refuses bytes with an unknown format tag, corrupt bodies and empty blobs', () => {
    const codec = createCodec();
    for (const bytes of [
      Uint8Array.from([0x09, 0x7b, 0x7d]),
      storedJson('{"unterminated":'),
      Uint8Array.from([0x02, 0x82, 0xa1, 0x61]),
      new Uint8Array(0),
    ]) {
      expect(() => codec.decode(ID, bytes)).toThrow(DecodeError);
    }
  });
});

describe('codec: repeated object shapes', () => {
  const cart: SessionData = {
    user: { id: 12345, name: 'alice' },
    cart: Array.from({ length: 10 }, (_, i) => ({ sku: `SKU-${i}`, qty: 64 + i, price: 19.99 })),
  };
  const occurrences = (bytes: Uint8Array, text: string) =>
    Buffer.from(bytes).toString('latin1').split(text).length - 1;

  it('writes the keys of an object shape once however many objects share it', () => {
    const stored = createCodec().encode(ID, cart);
    expect(occurrences(stored, 'price')).toBe(1);
    expect(createCodec().decode(ID, stored)).toEqual(cart);
  });

  it('reads MessagePack written before shapes were shared, small integers included', () => {
    // Written by the codec before records: every object a map, 100 as the one-byte integer 0x64.
    const before = Buffer.from(
      '02de0003a475736572de0002a26964cd3039a46e616d65a5616c696365a46361727492de0003a3736b75aa534b552d303030313233a371747902a57072696365cb4033fd70a3d70a3dde0003a3736b75aa534b552d303030313234a371747964a57072696365cb4012000000000000a26174d7ffa1a5d60065937d25',
      'hex',
    );
    const codec = createCodec();
    codec.decode(ID, codec.encode(ID, cart)); // a value with records read first changes nothing
    expect(codec.decode(ID, before)).toEqual({
      user: { id: 12345, name: 'alice' },
      cart: [
        { sku: 'SKU-000123', qty: 2, price: 19.99 },
        { sku: 'SKU-000124', qty: 100, price: 4.5 },
      ],
      at: new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 678)),
    });
  });

  it('writes what a reader with records off, an instance not yet upgraded, reads', () => {
    const stored = createCodec().encode(ID, cart);
    const previousReader = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false });
    expect(previousReader.unpack(stored.subarray(1))).toEqual(cart);
  });

  it('reads back any session data exactly, whatever shapes repeat in it', () => {
    const key = fc.constantFrom('a', 'b', 'sku', 'qty', '0', '10', '', 'a longer key');
    const { value } = fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: 'small' },
        fc.integer({ min: -300, max: 300 }),
        // -0 reads back as 0, as in JSON: the test below.
        fc.double({ noNaN: true, noDefaultInfinity: true }).filter((n) => !Object.is(n, -0)),
        fc.string(),
        fc.boolean(),
        fc.constant(null),
        fc.date({ noInvalidDate: true }),
        fc.array(tie('value'), { maxLength: 12 }),
        fc.dictionary(key, tie('value'), { maxKeys: 5 }),
      ),
    }));
    const codec = createCodec();
    fc.assert(
      fc.property(fc.dictionary(key, value, { maxKeys: 6 }), (data) => {
        expect(codec.decode(ID, codec.encode(ID, data as SessionData))).toEqual(data);
      }),
      { numRuns: 500 },
    );
  });

  it('reads -0 back as 0 in either format, as JSON has it', () => {
    for (const format of ['msgpack', 'json'] as const) {
      const codec = createCodec({ format });
      expect(Object.is(codec.decode(ID, codec.encode(ID, { n: -0 })).n, 0), format).toBe(true);
    }
  });

  it('keeps each value whole by itself: one written after others reads alone', () => {
    const codec = createCodec();
    for (let i = 0; i < 5; i++)
      codec.encode(ID, { other: { shape: i }, more: [{ a: 1 }, { a: 2 }] });
    expect(createCodec().decode(ID, codec.encode(ID, cart))).toEqual(cart);
  });
});

describe('codec: encryption at rest', () => {
  const secret = { card: 'correct horse battery staple' };

  function sealing(keyId = 'k1') {
    const keyring = ring(keyId, { [keyId]: generateEncryptionKey() });
    return { keyring, codec: createCodec({ format: 'json', keyring }) };
  }

  it('writes ciphertext that does not contain the plaintext', () => {
    const { codec } = sealing();
    const needle = Buffer.from(secret.card, 'utf8');
    expect(Buffer.from(createCodec({ format: 'json' }).encode(ID, secret)).includes(needle)).toBe(
      true,
    );
    expect(Buffer.from(codec.encode(ID, secret)).includes(needle)).toBe(false);
  });

  it('seals the same data differently each time (fresh IV)', () => {
    const { codec } = sealing();
    const first = Buffer.from(codec.encode(ID, secret));
    const second = Buffer.from(codec.encode(ID, secret));
    expect(first.equals(second)).toBe(false);
    expect(codec.decode(ID, first)).toEqual(secret);
    expect(codec.decode(ID, second)).toEqual(secret);
  });

  it('refuses a blob with any single byte of ciphertext, tag or IV flipped', () => {
    const { codec } = sealing();
    const blob = codec.encode(ID, secret);
    // [0x03][key id length][key id "k1"][12-byte IV][16-byte tag][ciphertext]
    const ivStart = 1 + 1 + 2;
    const tagStart = ivStart + 12;
    const ciphertextStart = tagStart + 16;
    for (const index of [ivStart, tagStart, ciphertextStart, blob.length - 1]) {
      expect(() => codec.decode(ID, flipByte(blob, index)), `byte ${index}`).toThrow(DecodeError);
    }
  });

  it('refuses a blob read under another record id, because the id is bound as associated data', () => {
    const { codec } = sealing();
    const blob = codec.encode(ID, secret);
    const error = thrownBy(() => codec.decode(OTHER_ID, blob));
    expect(error).toBeInstanceOf(DecodeError);
    expect(error).toMatchObject({ code: 'ERR_SESSION_DECODE' });
    expect(codec.decode(ID, blob)).toEqual(secret);
  });

  it('refuses a blob sealed under a key id the keyring does not hold', () => {
    const blob = sealing('old').codec.encode(ID, secret);
    const other = createCodec({ keyring: ring('new', { new: generateEncryptionKey() }) });
    expect(() => other.decode(ID, blob)).toThrow(DecodeError);
    expect(() => other.decode(ID, blob)).toThrow(/unknown key "old"/);
  });

  it('refuses a blob sealed under the same key id but different key material', () => {
    const blob = sealing('k1').codec.encode(ID, secret);
    expect(() => sealing('k1').codec.decode(ID, blob)).toThrow(DecodeError);
  });

  it('refuses an encrypted blob when no keyring is configured', () => {
    const blob = sealing().codec.encode(ID, secret);
    expect(() => createCodec().decode(ID, blob)).toThrow(DecodeError);
  });

  it('refuses a truncated envelope', () => {
    const { codec } = sealing();
    const blob = codec.encode(ID, secret);
    expect(() => codec.decode(ID, blob.subarray(0, 10))).toThrow(DecodeError);
    expect(() => codec.decode(ID, Uint8Array.from([0x03]))).toThrow(DecodeError);
  });

  it('reports which key sealed a blob, and null for plaintext', () => {
    const k1 = generateEncryptionKey();
    const k2 = generateEncryptionKey();
    const before = createCodec({ keyring: ring('k1', { k1 }) }).encode(ID, secret);
    const after = createCodec({ keyring: ring('k-2.b_', { k1, 'k-2.b_': k2 }) }).encode(ID, secret);
    expect(sealingKeyId(before)).toBe('k1');
    expect(sealingKeyId(after)).toBe('k-2.b_');
    expect(sealingKeyId(createCodec().encode(ID, secret))).toBeNull();
  });
});

describe('codec: size cap', () => {
  const data = { blob: 'x'.repeat(1000) };

  it('defaults to 64 KiB', () => {
    expect(DEFAULT_MAX_DATA_BYTES).toBe(64 * 1024);
    const codec = createCodec();
    expect(() => codec.encode(ID, { blob: 'x'.repeat(60 * 1024) })).not.toThrow();
    expect(() => codec.encode(ID, { blob: 'x'.repeat(64 * 1024) })).toThrow(
      SessionDataTooLargeError,
    );
  });

  it('throws SessionDataTooLargeError carrying the encoded size and the limit', () => {
    const size = createCodec({ format: 'json' }).encode(ID, data).length;
    expect(() => createCodec({ format: 'json', maxBytes: size }).encode(ID, data)).not.toThrow();
    const tooSmall = createCodec({ format: 'json', maxBytes: size - 1 });
    const caught = thrownBy(() => tooSmall.encode(ID, data));
    expect(caught).toBeInstanceOf(SessionDataTooLargeError);
    expect(caught).toMatchObject({
      code: 'ERR_SESSION_DATA_TOO_LARGE',
      size,
      limit: size - 1,
    });
  });

  it('caps the serialized size, not the larger encrypted envelope', () => {
    const size = createCodec({ format: 'json' }).encode(ID, data).length;
    const codec = createCodec({
      format: 'json',
      maxBytes: size,
      keyring: ring('k1', { k1: generateEncryptionKey() }),
    });
    const sealed = codec.encode(ID, data);
    expect(sealed.length).toBeGreaterThan(size);
    expect(codec.decode(ID, sealed)).toEqual(data);
  });

  it('measures the format being written: MessagePack may fit where JSON does not', () => {
    const numbers = { list: Array.from({ length: 200 }, (_, i) => i * 1000) };
    const jsonSize = createCodec({ format: 'json' }).encode(ID, numbers).length;
    const msgpackSize = createCodec({ format: 'msgpack' }).encode(ID, numbers).length;
    expect(msgpackSize).toBeLessThan(jsonSize);
    const limit = msgpackSize;
    expect(() =>
      createCodec({ format: 'msgpack', maxBytes: limit }).encode(ID, numbers),
    ).not.toThrow();
    expect(() => createCodec({ format: 'json', maxBytes: limit }).encode(ID, numbers)).toThrow(
      SessionDataTooLargeError,
    );
  });
});

describe('Keyring', () => {
  it('accepts 32-byte keys given raw or as base64', () => {
    const raw = new Uint8Array(32).fill(7);
    const keyring = ring('raw', { raw, b64: Buffer.from(raw).toString('base64') });
    expect(keyring.activeKeyId).toBe('raw');
  });

  it('rejects keys that are not 32 bytes with ConfigError', () => {
    for (const key of [
      new Uint8Array(31),
      new Uint8Array(33),
      new Uint8Array(0),
      Buffer.alloc(16).toString('base64'),
      Buffer.alloc(32).toString('hex'),
    ]) {
      expect(() => ring('k1', { k1: key })).toThrow(ConfigError);
    }
  });

  it('rejects key ids that are empty, too long or outside [A-Za-z0-9._-]', () => {
    const key = generateEncryptionKey();
    for (const id of ['', 'x'.repeat(65), 'has space', 'slash/id', 'clé', 'a:b']) {
      expect(() => ring(id, { [id]: key }), JSON.stringify(id)).toThrow(ConfigError);
    }
    expect(() => ring('x'.repeat(64), { ['x'.repeat(64)]: key })).not.toThrow();
  });

  it('rejects an active key id that is not among its keys', () => {
    expect(() => ring('k2', { k1: generateEncryptionKey() })).toThrow(ConfigError);
    expect(() => ring('k1', {})).toThrow(ConfigError);
    expect(thrownBy(() => ring('missing', { k1: generateEncryptionKey() }))).toMatchObject({
      code: 'ERR_CONFIG_INVALID',
    });
  });

  it('generates distinct 32-byte base64 keys', () => {
    const first = generateEncryptionKey();
    const second = generateEncryptionKey();
    expect(Buffer.from(first, 'base64')).toHaveLength(32);
    expect(first).not.toBe(second);
  });
});

describe('decoding corrupt bytes', () => {
  it('refuses stored bytes that parse but are not an object', () => {
    const codec = createCodec();
    for (const bytes of [
      Buffer.from('\x01null'),
      Buffer.from('\x015'),
      Buffer.from('\x01[]'),
      Uint8Array.from([0x02, 0xc1]),
    ]) {
      expect(() => codec.decode('a'.repeat(64), bytes)).toThrow(DecodeError);
    }
  });
});
