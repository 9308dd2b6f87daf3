import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConfigError } from '../../src/core/index.js';
import { SessionCookie } from '../../src/http/index.js';

const TOKEN = `${'A'.repeat(42)}B`;

describe('SessionCookie', () => {
  afterEach(() => vi.restoreAllMocks());

  it('defaults to a __Host- cookie with HttpOnly, Secure, SameSite=Lax, Path=/ and no Domain', () => {
    expect(new SessionCookie().serialize(TOKEN)).toBe(
      `__Host-cs_session=${TOKEN}; Path=/; HttpOnly; Secure; SameSite=Lax`,
    );
  });

  it('clears with the same attributes and an expiry in the past', () => {
    expect(new SessionCookie().clear()).toBe(
      '__Host-cs_session=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Secure; SameSite=Lax',
    );
  });

  it('warns once at construction in insecure development mode, and not otherwise', () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    new SessionCookie();
    expect(warn).not.toHaveBeenCalled();
    const cookie = new SessionCookie({ insecureDevelopmentMode: true });
    cookie.serialize(TOKEN);
    cookie.read(`cs_session=${TOKEN}`);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(cookie.serialize(TOKEN)).toBe(`cs_session=${TOKEN}; Path=/; HttpOnly; SameSite=Lax`);
  });

  it('refuses settings a browser would silently reject', () => {
    vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    const bad = [
      { insecureDevelopmentMode: true, name: '__Host-x' },
      { insecureDevelopmentMode: true, sameSite: 'none' as const },
      { name: 'has space' },
      { name: '' },
      { sameSite: 'loose' as 'lax' },
      { maxAge: -1 },
      { maxAge: 1.5 },
    ];
    for (const options of bad) expect(() => new SessionCookie(options)).toThrow(ConfigError);
  });

  it('reads a token only when it is there once, well-formed, in a header of at most 4096 bytes', () => {
    const cookie = new SessionCookie();
    expect(cookie.read(`__Host-cs_session=${TOKEN}`)).toBe(TOKEN);
    expect(cookie.read(` a=b ;__Host-cs_session=${TOKEN} ; c`)).toBe(TOKEN);
    expect(cookie.read(['a=b', `__Host-cs_session=${TOKEN}`])).toBe(TOKEN);
    const padded = `__Host-cs_session=${TOKEN}; p=`;
    expect(cookie.read(padded + 'x'.repeat(4096 - padded.length))).toBe(TOKEN);
    expect(cookie.read(padded + 'x'.repeat(4097 - padded.length))).toBeNull();
    expect(cookie.read(`__Host-cs_session=${TOKEN}; p=${'é'.repeat(2040)}`)).toBeNull();
    for (const header of [
      undefined,
      null,
      '',
      [],
      '__Host-cs_session',
      '__Host-cs_session=',
      `__Host-cs_session=${TOKEN}=`,
      `__Host-cs_session=${TOKEN}; __Host-cs_session=${TOKEN}`,
      [`__Host-cs_session=${TOKEN}`, `__Host-cs_session=${TOKEN}`],
      `__host-cs_session=${TOKEN}`,
      `cs_session=${TOKEN}`,
      `__Host-cs_session=${TOKEN.slice(1)}`,
      `__Host-cs_session=${TOKEN.replace('A', '+')}`,
    ]) {
      expect(cookie.read(header)).toBeNull();
    }
  });
});
