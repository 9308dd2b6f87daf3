import { createHash } from 'node:crypto';

/** A Lua script, run by its SHA-1 and loaded on a NOSCRIPT miss. */
export interface Script {
  readonly source: string;
  readonly sha: string;
}

/*
 * Every script touches exactly one key (KEYS[1]), so each is legal in a
 * cluster and atomic on the node that owns the key. Times arrive as decimal
 * strings and are written back as strings: Lua numbers are doubles, and
 * epoch milliseconds stay exact in them only as long as nothing formats them
 * with %g. `ms` formats a computed one as an integer.
 */
const PRELUDE = `
local function ms(n) return string.format('%d', n) end
local function extend(key, ttl)
  if redis.call('PTTL', key) < tonumber(ttl) then redis.call('PEXPIRE', key, ttl) end
end
`;

function script(body: string): Script {
  const source = PRELUDE + body;
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}

/** ARGV: ttl, then field, value pairs. 1 if created, 0 if the id is taken. */
export const CREATE = script(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
`);

/**
 * Compare-and-set. ARGV: now, the version the change was computed from, ttl,
 * then field, value pairs. 1 if written; 0 if the session is missing or
 * expired; otherwise the record as it is now (HGETALL), to compute again from.
 */
export const WRITE_IF_VERSION = script(`
local f = redis.call('HMGET', KEYS[1], 'v', 'i', 'x')
if not f[1] or tonumber(ARGV[1]) >= math.min(tonumber(f[2]), tonumber(f[3])) then return 0 end
if f[1] ~= ARGV[2] then return redis.call('HGETALL', KEYS[1]) end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
extend(KEYS[1], ARGV[3])
return 1
`);

/**
 * ARGV: now, idle expiry, retention. Moves the activity fields and the TTL
 * forward only (never back, whatever order touches arrive in), leaving the
 * data alone. 1 if touched, 0 if the session is missing or expired.
 */
export const TOUCH = script(`
local f = redis.call('HMGET', KEYS[1], 'a', 'i', 'x')
if not f[2] then return 0 end
local now, absolute = tonumber(ARGV[1]), tonumber(f[3])
if now >= math.min(tonumber(f[2]), absolute) then return 0 end
local idle = math.max(tonumber(f[2]), tonumber(ARGV[2]))
redis.call('HSET', KEYS[1], 'a', ms(math.max(tonumber(f[1]), now)), 'i', ms(idle))
extend(KEYS[1], ms(math.min(idle, absolute) - now + tonumber(ARGV[3])))
return 1
`);

/**
 * The second half of a rename. ARGV: the version that was copied. Deletes the
 * old record only if it is still that version: 1 if deleted, 0 if it is
 * gone, otherwise the record as it is now (an update landed after the copy).
 */
export const RETIRE = script(`
local v = redis.call('HGET', KEYS[1], 'v')
if not v then return 0 end
if v ~= ARGV[1] then return redis.call('HGETALL', KEYS[1]) end
redis.call('DEL', KEYS[1])
return 1
`);

/** ARGV: optionally the user the session must belong to. The deleted session's user id, or nil. */
export const DELETE = script(`
local u = redis.call('HGET', KEYS[1], 'u')
if not u or (#ARGV > 0 and u ~= ARGV[1]) then return false end
redis.call('DEL', KEYS[1])
return u
`);

/** ARGV: now. Deletes the session only if it is still expired: 1 if deleted. */
export const REAP = script(`
local f = redis.call('HMGET', KEYS[1], 'i', 'x')
if not f[1] or tonumber(ARGV[1]) < math.min(tonumber(f[1]), tonumber(f[2])) then return 0 end
redis.call('DEL', KEYS[1])
return 1
`);

/**
 * On a user index. ARGV: now, absolute expiry, session id. Adds the id (or
 * raises its score), drops entries past their absolute expiry, and keeps the
 * index's own TTL at its longest-lived entry, so an abandoned index goes too.
 */
export const INDEX_USER = script(`
redis.call('ZADD', KEYS[1], 'GT', ARGV[2], ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] then extend(KEYS[1], ms(tonumber(last[2]) - tonumber(ARGV[1]))) end
return 1
`);

/** On a user index. ARGV: now. Drops entries past their absolute expiry and returns the rest. */
export const USER_MEMBERS = script(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
return redis.call('ZRANGE', KEYS[1], 0, -1)
`);
