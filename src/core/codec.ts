import { Packr } from 'msgpackr';
import { isPlainObject } from './data.js';
import { DecodeError, SessionDataTooLargeError } from './errors.js';
import { Keyring } from './keyring.js';
import type { SessionData, SessionValue } from './session.js';

export type DataFormat = 'json' | 'msgpack';

/** Turns session data into the bytes a store keeps, and back. */
export interface SessionCodec {
  /** Throws `SessionDataTooLargeError` when the encoded data exceeds the cap. */
  encode(id: string, data: SessionData): Uint8Array;
  /** Throws `DecodeError` for bytes it cannot read or authenticate. */
  decode(id: string, bytes: Uint8Array): SessionData;
}

export interface CodecOptions {
  /** How new writes are serialized; records in either format stay readable. Default `msgpack`. */
  format?: DataFormat;
  /** Cap on the serialized data, before encryption. Default 64 KiB. */
  maxBytes?: number;
  /** Encrypts data at rest when given; the record id is bound as associated data. */
  keyring?: Keyring;
}

export const DEFAULT_MAX_DATA_BYTES = 64 * 1024;

/** First byte of every stored blob: which format follows. */
const TAG_JSON = 0x01;
const TAG_MSGPACK = 0x02;
const TAG_SEALED = 0x03;

/*
 * Records (msgpackr's extension 0x72): an object shape used more than once in
 * one value, such as the items of a cart, has its keys written once and each
 * object after it is a one-byte reference and its values. The definitions
 * travel in each value, none is shared between values, so every value stands
 * alone. The same reader reads values written with plain maps (before
 * records were used), and a reader with records off (an instance not yet
 * upgraded) reads values with records, so both ways of writing share the tag.
 */
const packr = new Packr({ useRecords: true, mapsAsObjects: true, moreTypes: false });

export function createCodec(options: CodecOptions = {}): SessionCodec {
  const format = options.format ?? 'msgpack';
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_DATA_BYTES;
  const keyring = options.keyring;

  return {
    encode(id, data) {
      const serialized =
        format === 'msgpack'
          ? tagged(TAG_MSGPACK, packr.pack(data))
          : tagged(TAG_JSON, toJson(data));
      if (serialized.length > maxBytes)
        throw new SessionDataTooLargeError(serialized.length, maxBytes);
      return keyring ? tagged(TAG_SEALED, keyring.seal(serialized, id)) : serialized;
    },
    decode(id, bytes) {
      if (bytes[0] === TAG_SEALED) {
        if (!keyring)
          throw new DecodeError('session data is encrypted but no keyring is configured');
        return decodeSerialized(keyring.open(bytes.subarray(1), id));
      }
      return decodeSerialized(bytes);
    },
  };
}

/** The id of the key that sealed a stored blob, or null for plaintext. */
export function sealingKeyId(bytes: Uint8Array): string | null {
  return bytes[0] === TAG_SEALED ? Keyring.keyIdOf(bytes.subarray(1)) : null;
}

function decodeSerialized(bytes: Uint8Array): SessionData {
  const data = parseSerialized(bytes);
  // Corruption can still parse (a stray byte decodes as a number); session data is always an object.
  if (!isPlainObject(data)) throw new DecodeError('stored session data is corrupt: not an object');
  return data as SessionData;
}

function parseSerialized(bytes: Uint8Array): unknown {
  const body = bytes.subarray(1);
  try {
    if (bytes[0] === TAG_JSON) return fromWire(JSON.parse(Buffer.from(body).toString('utf8')));
    if (bytes[0] === TAG_MSGPACK) return packr.unpack(body);
  } catch (error) {
    throw new DecodeError('stored session data is corrupt', { cause: error });
  }
  throw new DecodeError(`stored session data has unknown format tag ${bytes[0]}`);
}

function tagged(tag: number, body: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(body.length + 1);
  out[0] = tag;
  out.set(body, 1);
  return out;
}

/*
 * JSON has no Date, so Dates travel as { "$date": iso }. An object of the
 * user's that happens to look like a tag is wrapped as { "$escape": object },
 * which makes the mapping exact in both directions.
 */
function toJson(data: SessionData): Buffer {
  return Buffer.from(JSON.stringify(toWire(data)), 'utf8');
}

function toWire(value: SessionValue): unknown {
  if (value instanceof Date) return { $date: value.toISOString() };
  if (Array.isArray(value)) return value.map(toWire);
  if (value !== null && typeof value === 'object') {
    const mapped: Record<string, unknown> = {};
    for (const key of Object.keys(value)) mapped[key] = toWire(value[key] as SessionValue);
    return looksLikeTag(value) ? { $escape: mapped } : mapped;
  }
  return value;
}

function fromWire(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(fromWire);
  if (value === null || typeof value !== 'object') return value;
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record);
  if (keys.length === 1 && keys[0] === '$date' && typeof record.$date === 'string')
    return new Date(record.$date);
  const target =
    keys.length === 1 && keys[0] === '$escape'
      ? (record.$escape as Record<string, unknown>)
      : record;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(target)) {
    // defineProperty, so that a "__proto__" key in stored bytes stays a plain key.
    Object.defineProperty(out, key, {
      value: fromWire(target[key]),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

function looksLikeTag(value: object): boolean {
  const keys = Object.keys(value);
  return keys.length === 1 && (keys[0] === '$date' || keys[0] === '$escape');
}
