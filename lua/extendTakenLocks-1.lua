--[[
  extendTakenLocks: renew the locks of the active jobs held under the given tokens, found by
  their lock's value (not by id). For takes whose reply a worker has not read yet: Redis took
  the jobs and locked them, but the worker does not know their ids, so extendLocks cannot renew
  them; should the worker's runtime be held up longer than the lock, they would otherwise be
  recovered as stalled and run twice. Costs a read of every active job's lock: workers call it
  only for a take still unread after half a lock duration.

  KEYS[1]  queue base "prefix:name:"
  ARGV[1]  lock duration (ms), then tokens: one ending in ":" matches every token it starts
           (the takes of one batched call, `<prefix>:<i>`), any other exactly.

  Returns the ids whose lock was renewed.
  Events: none.
]]
--@flags allow-oom
local rcall = redis.call
local B = KEYS[1]
local duration = ARGV[1]
local exact, prefixes = {}, {}
for i = 2, #ARGV do
  local t = ARGV[i]
  if string.sub(t, -1) == ":" then prefixes[#prefixes + 1] = t else exact[t] = true end
end

local function ours(holder)
  if exact[holder] then return true end
  for _, p in ipairs(prefixes) do
    if string.sub(holder, 1, #p) == p then return true end
  end
  return false
end

local renewed = {}
local active = rcall("LRANGE", B .. "active", 0, -1)
for _, id in ipairs(active) do
  local lockKey = B .. id .. ":lock"
  local holder = rcall("GET", lockKey)
  if holder and ours(holder) then
    rcall("SET", lockKey, holder, "PX", duration)
    rcall("SREM", B .. "stalled", id)
    renewed[#renewed + 1] = id
  end
end
return renewed
