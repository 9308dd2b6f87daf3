import { createHash } from 'node:crypto';
import {
  ACTIVITY,
  DAY,
  HEAD,
  LAYOUT,
  LAYOUT_1,
  USER_ID_LENGTH,
  USER_ID_LENGTH_2,
} from './layout.js';

/** A Lua script, run by its SHA-1 and loaded on a NOSCRIPT miss. */
export interface Script {
  readonly source: string;
  readonly sha: string;
}

/*
 * Every script touches exactly one key (KEYS[1]), so each is legal in a
 * cluster and atomic on the node that owns the key: Redis runs a script to
 * the end before it serves any other command, so what a script reads is
 * still true when it writes.
 *
 * On a session key the scripts read only the fixed head of the value (see
 * `layout.ts`) with GETRANGE, never the data. The head's numbers are doubles,
 * which struct.unpack turns into Lua numbers (doubles too) exactly; times
 * arriving as decimal strings are exact through tonumber, and `ms` formats a
 * computed one as an integer (not %g) for PEXPIRE.
 */
const PRELUDE = `
local function ms(n) return string.format('%d', n) end
local function extend(key, ttl)
  if redis.call('PTTL', key) < tonumber(ttl) then redis.call('PEXPIRE', key, ttl) end
end
local function layout(value)
  local l = string.byte(value, 1)
  if l ~= ${LAYOUT} and l ~= ${LAYOUT_1} then
    error({err = 'ERR clawsession: the session record has an unknown layout'})
  end
  return l
end
-- The head of a session, or nil for a missing key: version, last active, idle and absolute expiry.
local function head(key)
  local h = redis.call('GETRANGE', key, 0, ${HEAD - 1})
  if #h == 0 then return nil end
  layout(h)
  local _, v, _, a, i, x = struct.unpack('>Bddddd', h)
  return { v = v, a = a, i = i, x = x }
end
`;

/** A script of `body` after the shared prelude. */
export function script(body: string): Script {
  const source = PRELUDE + body;
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}

/*
 * Creating a session needs no script: SET with NX and PX writes the value and
 * its TTL in one command, only if the id is free.
 */

/**
 * Compare-and-set. ARGV: now, the version the change was computed from, ttl,
 * the new value. 1 if written; 0 if the session is missing or expired;
 * otherwise the value as it is now, to compute again from.
 */
export const WRITE_IF_VERSION = script(`
local h = head(KEYS[1])
if not h or tonumber(ARGV[1]) >= math.min(h.i, h.x) then return 0 end
if h.v ~= tonumber(ARGV[2]) then return redis.call('GET', KEYS[1]) end
redis.call('SET', KEYS[1], ARGV[4], 'KEEPTTL')
extend(KEYS[1], ARGV[3])
return 1
`);

/**
 * ARGV: now, idle expiry, retention. Moves last active, the idle expiry and
 * the TTL forward only (never back, whatever order touches arrive in),
 * rewriting those 16 bytes in place and leaving the data alone. 1 if
 * touched, 0 if the session is missing or expired.
 */
export const TOUCH = script(`
local h = head(KEYS[1])
if not h then return 0 end
local now = tonumber(ARGV[1])
if now >= math.min(h.i, h.x) then return 0 end
local idle = math.max(h.i, tonumber(ARGV[2]))
redis.call('SETRANGE', KEYS[1], ${ACTIVITY}, struct.pack('>dd', math.max(h.a, now), idle))
extend(KEYS[1], ms(math.min(idle, h.x) - now + tonumber(ARGV[3])))
return 1
`);

/**
 * The second half of a rename. ARGV: the version that was copied. Deletes the
 * old session only if it is still that version: 1 if deleted, 0 if it is
 * gone, otherwise the value as it is now (an update landed after the copy).
 */
export const RETIRE = script(`
local h = head(KEYS[1])
if not h then return 0 end
if h.v ~= tonumber(ARGV[1]) then return redis.call('GET', KEYS[1]) end
redis.call('DEL', KEYS[1])
return 1
`);

/**
 * ARGV: optionally the user the session must belong to. Deletes the session
 * and returns its head and user id in layout 1's shape whatever the layout
 * stored (the five doubles, the user id's length, the user id), so the
 * caller can unindex it; nil if there was nothing to delete.
 */
export const DELETE = script(`
local h = redis.call('GETRANGE', KEYS[1], 0, ${USER_ID_LENGTH_2 + 1})
if #h == 0 then return false end
local at = ${USER_ID_LENGTH}
if layout(h) == ${LAYOUT} then at = ${USER_ID_LENGTH_2} end
local n = struct.unpack('>H', h, at + 1)
local u = redis.call('GETRANGE', KEYS[1], at + 2, at + 1 + n)
if #ARGV > 0 and u ~= ARGV[1] then return false end
redis.call('DEL', KEYS[1])
return string.sub(h, 1, ${HEAD}) .. string.sub(h, at + 1, at + 2) .. u
`);

/** ARGV: now. Deletes the session only if it is still expired: 1 if deleted. */
export const REAP = script(`
local h = head(KEYS[1])
if not h or tonumber(ARGV[1]) < math.min(h.i, h.x) then return 0 end
redis.call('DEL', KEYS[1])
return 1
`);

/**
 * On a key of the user index. ARGV: the member, the key's TTL (to the end of
 * its day). Adds the member and lengthens the TTL, never shortens it.
 */
export const INDEX_USER = script(`
redis.call('ZADD', KEYS[1], 0, ARGV[1])
extend(KEYS[1], ARGV[2])
return 1
`);

/**
 * On a shard's list of days. ARGV: now, the day to add. Adds the day, drops
 * the days that have ended (their keys are gone or going: every session in
 * them is past its absolute expiry), and keeps the list's own TTL at the end
 * of its last day, so an abandoned list goes too.
 */
export const INDEX_DAY = script(`
local now = tonumber(ARGV[1])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ms(math.floor(now / ${DAY})))
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] then extend(KEYS[1], ms((tonumber(last[2]) + 1) * ${DAY} - now)) end
return 1
`);
