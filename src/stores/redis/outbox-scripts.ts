import { HEAD, LAYOUT, USER_ID_LENGTH, USER_ID_LENGTH_2 } from './layout.js';
import { type Script, script } from './scripts.js';

/*
 * The scripts of a store with an outbox: each write of `scripts.ts` again,
 * also appending the write's events to the outbox stream and keeping the
 * session's event counter, in the same script, so the change and its events
 * happen together or not at all. A store without an outbox runs the scripts
 * of `scripts.ts`, unchanged, and so does a touch, which records nothing.
 *
 * Several keys per script, so a store with an outbox needs a standalone
 * server (docs/events.md, "Redis Cluster", says what a cluster would need).
 *
 * The events come from JS, built by core/outbox.ts, as the ARGV after the
 * write's own: the stream's bound (MAXLEN ~), then three values per event:
 * its time, its user (empty for DELETE: the script fills in the session's)
 * and the rest of its entry (`outbox.ts`, `entryTail`). The script adds what
 * only it knows: the sequence, and the stream id. An entry is one field,
 * `e`, so that the XADD, and the XREVRANGE that finds the stream's last id,
 * carry one value instead of a field name and value per part of the event.
 *
 * Redis does not undo a script's writes when a later command of it fails, so
 * every script does what can fail first: it looks at the stream (`appender`)
 * and takes the sequence (`advance`, whose INCRBY is then its first write)
 * before it writes the change, so a stream or counter key of the wrong type
 * fails the script before the change.
 *
 * The counter, `seq:<id>`, is a STRING beside the session rather than a
 * field of its value, so a store without an outbox keeps its layout and
 * bytes, and a session is readable by a store with or without one. Its TTL,
 * set when it is made, runs past the last moment the session's key can live
 * (its absolute expiry, which neither updates nor renames move, and the
 * expired retention; `#counterTtl` in the store), so touches and updates
 * leave it alone; the scripts that delete a session delete it too. A session without a counter (written without an outbox, or
 * copied silently) counts from 0, so its next event is 1, like the memory
 * store's.
 */
const OUTBOX_PRELUDE = `
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
  return function(time, entry)
    n = n + 1
    t = math.max(t, tonumber(time))
    redis.call('XADD', stream, 'MAXLEN', '~', bound, ms(n) .. '-' .. ms(t), 'e', entry)
  end
end
-- The number of events in ARGV after the bound at ARGV[at].
local function count(at) return (#ARGV - at) / 3 end
-- Appends the events of ARGV from ARGV[at + 1] on, their sequences from seq on: an entry is
-- <sequence>,<time>,<user's length in bytes>,<user><the rest, from JS>.
local function record(add, at, seq, user)
  local e = 0
  for a = at + 1, #ARGV, 3 do
    local u = ARGV[a + 1]
    if u == '' and user then u = user end
    add(ARGV[a], ms(seq + e) .. ',' .. ARGV[a] .. ',' .. #u .. ',' .. u .. ARGV[a + 2])
    e = e + 1
  end
end
-- Counts k more events of a session: the sequence of the first. A counter made here (the
-- session had none) gets ttl, when the session lives on.
local function advance(counter, k, ttl)
  local total = redis.call('INCRBY', counter, k)
  if ttl and total == k then redis.call('PEXPIRE', counter, ttl) end
  return total - k + 1
end
`;

function recording(body: string): Script {
  return script(OUTBOX_PRELUDE + body);
}

/** The keys of a script on one session: the session, its counter, the stream. */
export type SessionKeys = [session: Buffer, counter: Buffer, stream: string];

/**
 * `SessionKeys`. ARGV: the value, its TTL, the counter's TTL, the events
 * (none for a silent create: then no counter either). SET NX PX: 1 if
 * created, 0 if the id is taken.
 */
export const CREATE_RECORDED = recording(`
local add = appender(KEYS[3], ARGV[4])
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end
local k = count(4)
if k > 0 then
  redis.call('SET', KEYS[2], k, 'PX', ARGV[3])
  record(add, 4, 1)
end
return 1
`);

/**
 * `SessionKeys`. WRITE_IF_VERSION (ARGV: now, version, ttl, value), the TTL
 * of a counter it makes, then the events: one per update of the batch that
 * applied and is not silent. An existing counter's TTL stays: an update
 * keeps the absolute expiry it runs to.
 */
export const WRITE_IF_VERSION_RECORDED = recording(`
local h = head(KEYS[1])
if not h or tonumber(ARGV[1]) >= math.min(h.i, h.x) then return 0 end
if h.v ~= tonumber(ARGV[2]) then return redis.call('GET', KEYS[1]) end
local add = appender(KEYS[3], ARGV[6])
local k = count(6)
local seq = k > 0 and advance(KEYS[2], k, ARGV[5])
redis.call('SET', KEYS[1], ARGV[4], 'KEEPTTL')
extend(KEYS[1], ARGV[3])
if seq then record(add, 6, seq) end
return 1
`);

/**
 * A whole rename in one script, which a standalone server allows (the two
 * ids' keys are on one node): the old id is gone the moment the new one
 * exists, and the counter moves to the new id. KEYS: the old session, the new
 * one, their counters, the stream, the old id's alias key. ARGV: now, the
 * version the new value was computed from, its TTL, the new value, the alias
 * value (empty for none), its TTL, the counter's TTL, the events. 1 if renamed; 0 if the old
 * session is missing or expired; -1 if the new id is taken; otherwise the
 * old value as it is now, to compute again from.
 */
export const RENAME_RECORDED = recording(`
local h = head(KEYS[1])
if not h or tonumber(ARGV[1]) >= math.min(h.i, h.x) then return 0 end
if h.v ~= tonumber(ARGV[2]) then return redis.call('GET', KEYS[1]) end
if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
local add = appender(KEYS[5], ARGV[8])
local k = count(8)
local seq = tonumber(redis.call('GET', KEYS[3]) or '0') + k
redis.call('SET', KEYS[2], ARGV[4], 'PX', ARGV[3])
if ARGV[5] ~= '' then redis.call('SET', KEYS[6], ARGV[5], 'PX', ARGV[6]) end
redis.call('DEL', KEYS[1], KEYS[3])
if seq > 0 then redis.call('SET', KEYS[4], seq, 'PX', ARGV[7]) end
if k > 0 then record(add, 8, seq - k + 1) end
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

/** On the stream: events of no session, as given. ARGV: the bound, then per event its time and its entry. */
export const APPEND = recording(`
local add = appender(KEYS[1], ARGV[1])
for a = 2, #ARGV, 2 do add(ARGV[a], ARGV[a + 1]) end
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
  local time = tonumber(string.match(entry[2][2] or '', '^[^,]*,([^,]*),'))
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
