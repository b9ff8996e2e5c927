--[[
  extendTakenLocks: renew the locks of the active jobs held under the given tokens, found by
  their lock's value (not by id). For takes whose reply a worker has not read yet: Redis took
  the jobs and locked them, but the worker does not know their ids, so extendLocks cannot renew
  them; should the worker's runtime be held up longer than the lock, they would otherwise be
  recovered as stalled and run twice. Costs a read of every active job's lock (for a fair
  group, in the queue of every tenant in its busy set): workers call it only for a take still
  unread after a quarter of a lock duration (with the default renewal period).

  KEYS[1]  queue base "prefix:name:" (a fair group's home base)
  ARGV[1]  lock duration (ms)
  ARGV[2]  a fair group's tenant prefix "prefix:G." (a tenant's queue base is it, the tenant
           and ":"), or "" for a plain queue
  ARGV[3..] tokens: one ending in ":" matches every token it starts (the takes of one batched
           call, `<prefix>:<i>`), any other exactly.

  Returns the ids whose lock was renewed.
  Events: none.
]]
--@flags allow-oom
local rcall = redis.call
local B = KEYS[1]
local duration = ARGV[1]
local tenants = ARGV[2]
local exact, prefixes = {}, {}
for i = 3, #ARGV do
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
local function renewIn(QB)
  for _, id in ipairs(rcall("LRANGE", QB .. "active", 0, -1)) do
    local lockKey = QB .. id .. ":lock"
    local holder = rcall("GET", lockKey)
    if holder and ours(holder) then
      rcall("SET", lockKey, holder, "PX", duration)
      rcall("SREM", QB .. "stalled", id)
      renewed[#renewed + 1] = id
    end
  end
end

renewIn(B)
if tenants ~= "" then
  -- A fair take marks every tenant it took from busy in the same call, so the jobs of a take
  -- in flight are in the active lists of busy tenants.
  for _, T in ipairs(rcall("SMEMBERS", B .. "busy")) do
    renewIn(tenants .. T .. ":")
  end
end
return renewed
