import { ACTIVITY, HEAD, LAYOUT, USER_ID_LENGTH, USER_ID_LENGTH_2 } from './layout.js';
import { type Script, script } from './scripts.js';

/*
 * The scripts of a store with an outbox: each write of `scripts.ts` again,
 * also appending the write's events to the outbox stream and keeping the
 * session's event counter, in the same script, so the change and its events
 * happen together or not at all. A store without an outbox runs the scripts
 * of `scripts.ts`, unchanged.
 *
 * Several keys per script, so a store with an outbox needs a standalone
 * server (docs/events.md, "Redis Cluster", says what a cluster would need).
 *
 * The events come from JS, built by core/outbox.ts, as the ARGV after the
 * write's own: the stream's bound (MAXLEN ~), then eight values per event:
 * its time, id, type, session, user (empty for DELETE: the script fills in the
 * session's), instance, data (JSON) and the replay payload (base64, or empty).
 * The script adds what only it knows:
 * the sequence, and the stream id.
 *
 * Redis does not undo a script's writes when a later command of it fails, so
 * every script does what can fail first: it looks at the stream (`appender`)
 * and takes the sequence (`advance`, whose INCRBY is then its first write)
 * before it writes the change, so a stream or counter key of the wrong type
 * fails the script before the change.
 *
 * The counter, `seq:<id>`, is a STRING beside the session rather than a
 * field of its value, so a store without an outbox keeps its layout and
 * bytes, and a session is readable by a store with or without one. Its TTL is
 * kept equal to the session key's (`follow`, after every script that sets
 * the session's TTL), so it expires with the session, and the scripts that
 * delete a session delete it too: it never outlives its session. A session
 * without a counter (written without an outbox, or copied silently) counts
 * from 0, so its next event is 1, like the memory store's.
 */
const OUTBOX_PRELUDE = `
-- The counter expires at the session key's moment (PEXPIRETIME, Redis 7), or within a
-- millisecond of it (PTTL, Redis 6.2: two readings of the clock).
local function follow(counter, key)
  local at = redis.pcall('PEXPIRETIME', key)
  if type(at) ~= 'number' then
    local ttl = redis.call('PTTL', key)
    if ttl > 0 then redis.call('PEXPIRE', counter, ttl) end
  elseif at > 0 then
    redis.call('PEXPIREAT', counter, at)
  end
end
-- The parts of the last id the stream handed out (an empty stream keeps it): the count, the time.
local function top(stream)
  local last = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)[1]
  local id = '0-0'
  if last then
    id = last[1]
  elseif redis.call('EXISTS', stream) == 1 then
    local info = redis.call('XINFO', 'STREAM', stream)
    for i = 1, #info, 2 do
      if info[i] == 'last-generated-id' then id = info[i + 1] end
    end
  end
  local n, t = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(n), tonumber(t)
end
-- The count part of an entry's id: its position.
local function position(id) return tonumber(string.match(id, '^(%d+)-')) end
-- Appends entries to the stream, bounded by MAXLEN ~ bound. An entry's id is <n>-<time>: n
-- counts every entry the stream ever held, and is the entry's position (so positions are
-- decimal and subtract into counts); the time is the event's, raised to the previous entry's
-- when earlier (clocks of instances differ), so that it never decreases along the stream and
-- a search by time can halve it (QUERY_START).
local function appender(stream, bound)
  local n, t = top(stream)
  return function(time, fields)
    n = n + 1
    t = math.max(t, tonumber(time))
    redis.call('XADD', stream, 'MAXLEN', '~', bound, ms(n) .. '-' .. ms(t), unpack(fields))
  end
end
-- The number of events in ARGV after the bound at ARGV[at].
local function count(at) return (#ARGV - at) / 8 end
-- Appends the events of ARGV from ARGV[at] on, their sequences from seq on.
local function record(add, at, seq, user)
  local e = 0
  for a = at + 1, #ARGV, 8 do
    local u = ARGV[a + 4]
    if u == '' then u = user end
    local fields = {'id', ARGV[a + 1], 'type', ARGV[a + 2], 'time', ARGV[a], 'session', ARGV[a + 3],
      'user', u, 'seq', ms(seq + e), 'instance', ARGV[a + 5], 'data', ARGV[a + 6]}
    if ARGV[a + 7] ~= '' then
      fields[#fields + 1] = 'payload'
      fields[#fields + 1] = ARGV[a + 7]
    end
    add(ARGV[a], fields)
    e = e + 1
  end
end
-- Counts k more events of a session: the sequence of the first.
local function advance(counter, k)
  return redis.call('INCRBY', counter, k) - k + 1
end
`;

function recording(body: string): Script {
  return script(OUTBOX_PRELUDE + body);
}

/** The keys of a script on one session: the session, its counter, the stream. */
export type SessionKeys = [session: Buffer, counter: Buffer, stream: string];

/**
 * `SessionKeys`. ARGV: the value, its TTL, the events (none for a silent
 * create: then no counter either). SET NX PX: 1 if created, 0 if the id is taken.
 */
export const CREATE_RECORDED = recording(`
local add = appender(KEYS[3], ARGV[3])
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end
local k = count(3)
if k > 0 then
  redis.call('SET', KEYS[2], k)
  follow(KEYS[2], KEYS[1])
  record(add, 3, 1)
end
return 1
`);

/**
 * `SessionKeys`. WRITE_IF_VERSION (ARGV: now, version, ttl, value), then the
 * events: one per update of the batch that applied and is not silent.
 */
export const WRITE_IF_VERSION_RECORDED = recording(`
local h = head(KEYS[1])
if not h or tonumber(ARGV[1]) >= math.min(h.i, h.x) then return 0 end
if h.v ~= tonumber(ARGV[2]) then return redis.call('GET', KEYS[1]) end
local add = appender(KEYS[3], ARGV[5])
local k = count(5)
local seq = k > 0 and advance(KEYS[2], k)
redis.call('SET', KEYS[1], ARGV[4], 'KEEPTTL')
extend(KEYS[1], ARGV[3])
if seq then record(add, 5, seq) end
follow(KEYS[2], KEYS[1])
return 1
`);

/** KEYS: the session, its counter. TOUCH (ARGV: now, idle expiry, retention), the counter's TTL following. */
export const TOUCH_FOLLOWED = recording(`
local h = head(KEYS[1])
if not h then return 0 end
local now = tonumber(ARGV[1])
if now >= math.min(h.i, h.x) then return 0 end
local idle = math.max(h.i, tonumber(ARGV[2]))
redis.call('SETRANGE', KEYS[1], ${ACTIVITY}, struct.pack('>dd', math.max(h.a, now), idle))
extend(KEYS[1], ms(math.min(idle, h.x) - now + tonumber(ARGV[3])))
follow(KEYS[2], KEYS[1])
return 1
`);

/**
 * A whole rename in one script, which a standalone server allows (the two
 * ids' keys are on one node): the old id is gone the moment the new one
 * exists, and the counter moves to the new id. KEYS: the old session, the new
 * one, their counters, the stream, the old id's alias key. ARGV: now, the
 * version the new value was computed from, its TTL, the new value, the alias
 * value (empty for none), its TTL, the events. 1 if renamed; 0 if the old
 * session is missing or expired; -1 if the new id is taken; otherwise the
 * old value as it is now, to compute again from.
 */
export const RENAME_RECORDED = recording(`
local h = head(KEYS[1])
if not h or tonumber(ARGV[1]) >= math.min(h.i, h.x) then return 0 end
if h.v ~= tonumber(ARGV[2]) then return redis.call('GET', KEYS[1]) end
if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
local add = appender(KEYS[5], ARGV[7])
local k = count(7)
local seq = tonumber(redis.call('GET', KEYS[3]) or '0') + k
redis.call('SET', KEYS[2], ARGV[4], 'PX', ARGV[3])
if ARGV[5] ~= '' then redis.call('SET', KEYS[6], ARGV[5], 'PX', ARGV[6]) end
redis.call('DEL', KEYS[1], KEYS[3])
if seq > 0 then
  redis.call('SET', KEYS[4], seq)
  follow(KEYS[4], KEYS[2])
end
if k > 0 then record(add, 7, seq - k + 1) end
return 1
`);

/**
 * `SessionKeys`. DELETE (ARGV: the user the session must belong to, empty for
 * any), then the events, whose empty user is the session's. Deletes the
 * counter too. Returns what DELETE returns.
 */
export const DELETE_RECORDED = recording(`
local h = redis.call('GETRANGE', KEYS[1], 0, ${USER_ID_LENGTH_2 + 1})
if #h == 0 then return false end
local at = ${USER_ID_LENGTH}
if layout(h) == ${LAYOUT} then at = ${USER_ID_LENGTH_2} end
local n = struct.unpack('>H', h, at + 1)
local u = redis.call('GETRANGE', KEYS[1], at + 2, at + 1 + n)
if ARGV[1] ~= '' and u ~= ARGV[1] then return false end
local add = appender(KEYS[3], ARGV[2])
local k = count(2)
if k > 0 then record(add, 2, advance(KEYS[2], k), u) end
redis.call('DEL', KEYS[1], KEYS[2])
return string.sub(h, 1, ${HEAD}) .. string.sub(h, at + 1, at + 2) .. u
`);

/** `SessionKeys`. REAP (ARGV: now), then the events. Deletes the counter too. */
export const REAP_RECORDED = recording(`
local h = head(KEYS[1])
if not h or tonumber(ARGV[1]) < math.min(h.i, h.x) then return 0 end
local add = appender(KEYS[3], ARGV[2])
local k = count(2)
if k > 0 then record(add, 2, advance(KEYS[2], k)) end
redis.call('DEL', KEYS[1], KEYS[2])
return 1
`);

/**
 * On the stream: events of no session, as given. ARGV: the bound, then per
 * event its time, the number of field values that follow, and those.
 */
export const APPEND = recording(`
local add = appender(KEYS[1], ARGV[1])
local a = 2
while a <= #ARGV do
  local n = tonumber(ARGV[a + 1])
  add(ARGV[a], {unpack(ARGV, a + 2, a + 1 + n)})
  a = a + 2 + n
end
return 1
`);

/**
 * On the stream. ARGV: a moment, a limit. Removes the oldest entries, up to
 * the limit, while their event's time is before the moment, and returns them:
 * a prefix of the stream, cut with XTRIM MINID, so entries' counts stay
 * consecutive (see `appender`).
 */
export const TRIM = recording(`
local before = tonumber(ARGV[1])
local gone = {}
for _, entry in ipairs(redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', ARGV[2])) do
  local f = entry[2]
  local time
  for i = 1, #f, 2 do
    if f[i] == 'time' then time = tonumber(f[i + 1]) end
  end
  if not time or time >= before then break end
  gone[#gone + 1] = entry
end
if #gone > 0 then redis.call('XTRIM', KEYS[1], 'MINID', ms(position(gone[#gone][1]) + 1)) end
return gone
`);

/**
 * On the stream. ARGV: the XRANGE start after a position. The last position
 * the stream handed out and the first entry after the position (false if
 * none); an empty list if there is no stream.
 */
export const BACKLOG = recording(`
if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
local last = top(KEYS[1])
local first = redis.call('XRANGE', KEYS[1], ARGV[1], '+', 'COUNT', 1)[1] or false
return { last, first }
`);

/**
 * On the stream. ARGV: a moment. The position of the first entry whose id's
 * time is at or after it (no entry before it holds an event made then or
 * later, since an id's time is never before its event's), by halving the
 * positions the stream holds, which are consecutive: O(log² n), never a walk.
 * 0 when the stream is empty or missing.
 */
export const QUERY_START = recording(`
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1]
if not first then return 0 end
local since = tonumber(ARGV[1])
local low, high = position(first[1]), top(KEYS[1]) + 1
while low < high do
  local middle = math.floor((low + high) / 2)
  local id = redis.call('XRANGE', KEYS[1], ms(middle), ms(middle))[1][1]
  if tonumber(string.match(id, '-(%d+)$')) < since then low = middle + 1 else high = middle end
end
return low
`);
