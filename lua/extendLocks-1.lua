--[[
  extendLocks: renew the locks of many active jobs in one call (PROTOCOL.md §12.8). A renewed job
  is also taken off the stalled candidates.

  KEYS[1]  queue base "prefix:name:"
  ARGV[1]  lock duration (ms), then pairs: ARGV[2k] job id, ARGV[2k+1] token

  Returns the ids whose lock was missing or held under another token (not renewed).
  Events: none. Runs while Redis is out of memory (as a function: `--@flags allow-oom`): it only
  refreshes keys' times, and a lock left to expire under a full Redis would hand a running job
  to another worker once memory is back.
]]
--@flags allow-oom
local rcall = redis.call
local B = KEYS[1]
local duration = ARGV[1]
local lost = {}
for i = 2, #ARGV, 2 do
  local id, token = ARGV[i], ARGV[i + 1]
  local lockKey = B .. id .. ":lock"
  if rcall("GET", lockKey) == token then
    rcall("SET", lockKey, token, "PX", duration)
    rcall("SREM", B .. "stalled", id)
  else
    lost[#lost + 1] = id
  end
end
return lost
