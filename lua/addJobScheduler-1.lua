--[[
  addJobScheduler: create or update job scheduler `sid` and its pending iteration (PROTOCOL.md
  §15.2), written for this project. Differences from BullMQ 6.7's script, all on the side of
  "exactly one pending iteration":
  - an upsert that changes nothing (the stored scheduler already has these fields) while its
    current iteration exists is a no-op, so N processes upserting the same scheduler at boot
    leave one scheduler and one next job;
  - a pending iteration is looked for in wait and paused both (BullMQ misses one in wait of a
    paused queue and then adds a second);
  - an `every` change while the current iteration runs counts the new interval from that
    iteration's slot, instead of restarting from now (which ran an extra iteration at once).

  KEYS[1]  queue base "prefix:name:"
  ARGV[1]  scheduler id
  ARGV[2]  next slot (ms) of a cron pattern, computed by the client; "" for `every`
  ARGV[3]  now (ms)
  ARGV[4]  scheduler fields JSON: name, and each of every, pattern, tz, startDate, endDate,
           limit, offset that is set
  ARGV[5]  template data JSON ("{}" for none)
  ARGV[6]  template options JSON, stored form ("{}" for none)
  ARGV[7]  iteration options JSON, stored form (its delay and jobId are set here)

  Returns {job id, delay ms, "1" when the upsert changed nothing}, or -10 (a pattern's slot is
  taken by another job), -11 (32 consecutive `every` slots taken).
  Events: added, then delayed | waiting (as an add); none for a no-op.
]]
--@include "includes/base.lua"
--@include "includes/remove.lua"
--@include "includes/store.lua"
--@include "includes/scheduler.lua"

local B = KEYS[1]
local sid, now = ARGV[1], tonumber(ARGV[3])
local fields = cjson.decode(ARGV[4])
local data, templateOpts = ARGV[5], ARGV[6]
local opts = cjson.decode(ARGV[7])
local zkey, skey = B .. "repeat", B .. "repeat:" .. sid
local every = tonumber(fields["every"])

-- The hash as BullMQ stores it: optional fields only when set, opts and data only when not
-- empty; `ic` and (unless given) `offset` are kept across upserts.
local NUMBERS = { limit = true, startDate = true, endDate = true, every = true, offset = true }
local function wanted()
  local w = { name = fields["name"] }
  for _, f in ipairs({ "tz", "limit", "pattern", "startDate", "endDate", "every", "offset" }) do
    local v = fields[f]
    if v ~= nil then
      if NUMBERS[f] then w[f] = int(tonumber(v)) else w[f] = tostring(v) end
    end
  end
  if templateOpts ~= "{}" then w["opts"] = templateOpts end
  if data ~= "{}" then w["data"] = data end
  return w
end

-- True when the stored hash already holds `want` (ic aside; offset aside unless it was given).
local function unchanged(want)
  local skip = { ic = true }
  if want["offset"] == nil then skip["offset"] = true end
  local stored = rcall("HGETALL", skey)
  local n = 0
  for i = 1, #stored, 2 do
    local f = stored[i]
    if not skip[f] then
      if want[f] ~= stored[i + 1] then return false end
      n = n + 1
    end
  end
  for f, _ in pairs(want) do
    if not skip[f] then n = n - 1 end
  end
  return n == 0
end

local prev = rcall("ZSCORE", zkey, sid)
prev = prev and tonumber(prev)
-- The current iteration, when the scheduler has one that still exists.
local currentId = prev and iterationId(sid, prev)
local current = currentId and rcall("EXISTS", B .. currentId) == 1

if current and unchanged(wanted()) then
  local due = rcall("ZSCORE", B .. "delayed", currentId)
  local delay = due and math.max(0, math.floor(tonumber(due) / 4096) - now) or 0
  return { currentId, delay, "1" }
end

local offset = tonumber(fields["offset"]) or (type(opts["repeat"]) == "table" and tonumber(opts["repeat"]["offset"])) or 0
local newOffset = offset
local nextMs = tonumber(ARGV[2])
local removed = current and removePendingIteration(B, currentId)
if every then
  local everyChanged = prev and tonumber(rcall("HGET", skey, "every")) ~= every
  local from = prev
  -- A changed interval restarts the phase, unless the current iteration is running: then the
  -- next slot is counted from it, so the change does not add an iteration right away.
  if everyChanged and (removed or not current) then from = nil end
  nextMs, newOffset = everyNext(from, every, now, offset, fields["startDate"])
  if removed and not everyChanged then nextMs = prev end
end
if not removed then fields["offset"] = newOffset end

local id = iterationId(sid, nextMs)
if rcall("EXISTS", B .. id) == 1 then
  if not every then return -10 end
  local scans = 0
  repeat
    nextMs = nextMs + every
    id = iterationId(sid, nextMs)
    scans = scans + 1
  until rcall("EXISTS", B .. id) == 0 or scans >= 32
  if rcall("EXISTS", B .. id) == 1 then return -11 end
end

-- Store the scheduler (wholesale, keeping ic and an offset not given).
local ic = rcall("HGET", skey, "ic") or "1"
local keptOffset = rcall("HGET", skey, "offset")
local want = wanted()
if want["offset"] == nil and keptOffset then want["offset"] = keptOffset end
want["ic"] = ic
local flat = { "name", want["name"] }
for _, f in ipairs({ "tz", "limit", "pattern", "startDate", "endDate", "every", "offset", "opts", "data", "ic" }) do
  if want[f] ~= nil then flat[#flat + 1] = f; flat[#flat + 1] = want[f] end
end
rcall("ZADD", zkey, nextMs, sid)
rcall("DEL", skey)
rcall("HSET", skey, unpack(flat))
rcall("INCR", B .. "id")
local delay = storeIteration(B, sid, id, fields["name"], data, opts, now, nextMs)
return { id, delay, "0" }
