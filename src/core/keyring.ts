import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { ConfigError, DecodeError } from './errors.js';

export interface KeyringConfig {
  /** The key that encrypts every new write. */
  activeKeyId: string;
  /** Every key that may still be needed to read: id → 32-byte key (raw or base64). */
  keys: Record<string, string | Uint8Array>;
}

const KEY_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * AES-256-GCM over session data. Each envelope names the key that sealed it,
 * so keys rotate by adding a new active key and keeping the old ones for reading.
 * Envelope: [key id length][key id][12-byte IV][16-byte tag][ciphertext].
 */
export class Keyring {
  readonly activeKeyId: string;
  readonly #keys: Map<string, Buffer>;

  constructor(config: KeyringConfig) {
    this.#keys = new Map();
    for (const [id, material] of Object.entries(config.keys)) {
      if (!KEY_ID_PATTERN.test(id)) {
        throw new ConfigError(
          `encryption key id ${JSON.stringify(id)} must match ${KEY_ID_PATTERN}`,
        );
      }
      const key =
        typeof material === 'string' ? Buffer.from(material, 'base64') : Buffer.from(material);
      if (key.length !== 32) {
        throw new ConfigError(
          `encryption key ${JSON.stringify(id)} must be 32 bytes, got ${key.length}`,
        );
      }
      this.#keys.set(id, key);
    }
    if (!this.#keys.has(config.activeKeyId)) {
      throw new ConfigError(
        `active encryption key ${JSON.stringify(config.activeKeyId)} is not in the keyring`,
      );
    }
    this.activeKeyId = config.activeKeyId;
  }

  seal(plaintext: Uint8Array, associatedData: string): Buffer {
    const keyId = Buffer.from(this.activeKeyId, 'utf8');
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#keys.get(this.activeKeyId) as Buffer, iv);
    cipher.setAAD(Buffer.from(associatedData, 'utf8'));
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return Buffer.concat([Buffer.from([keyId.length]), keyId, iv, cipher.getAuthTag(), ciphertext]);
  }

  open(envelope: Uint8Array, associatedData: string): Buffer {
    const bytes = Buffer.from(envelope.buffer, envelope.byteOffset, envelope.byteLength);
    const keyIdLength = bytes[0] ?? 0;
    const headerLength = 1 + keyIdLength + IV_BYTES + TAG_BYTES;
    if (keyIdLength === 0 || bytes.length < headerLength)
      throw new DecodeError('encrypted session data is truncated');
    const keyId = bytes.subarray(1, 1 + keyIdLength).toString('utf8');
    const key = this.#keys.get(keyId);
    if (!key)
      throw new DecodeError(`session data is sealed with unknown key ${JSON.stringify(keyId)}`);
    const ivStart = 1 + keyIdLength;
    const decipher = createDecipheriv(
      'aes-256-gcm',
      key,
      bytes.subarray(ivStart, ivStart + IV_BYTES),
    );
    decipher.setAAD(Buffer.from(associatedData, 'utf8'));
    decipher.setAuthTag(bytes.subarray(ivStart + IV_BYTES, headerLength));
    try {
      return Buffer.concat([decipher.update(bytes.subarray(headerLength)), decipher.final()]);
    } catch (error) {
      throw new DecodeError(
        'session data failed authentication (tampered, or bound to another id)',
        {
          cause: error,
        },
      );
    }
  }

  /** The id of the key that sealed `envelope`, without decrypting it. */
  static keyIdOf(envelope: Uint8Array): string {
    const length = envelope[0] ?? 0;
    return Buffer.from(envelope.subarray(1, 1 + length)).toString('utf8');
  }
}

/** A fresh random 32-byte key, base64: for tests and for `clawsession` key generation. */
export function generateEncryptionKey(): string {
  return randomBytes(32).toString('base64');
}
