--[[
  Job locks (PROTOCOL.md §11.1). Needs includes/base.lua.
]]

-- Release the lock of an active job held under `token`. Returns 0, -2 (no lock: probably
-- recovered as stalled) or -6 (held under another token). Token "0" means "no lock".
local function releaseLock(B, id, token)
  if token ~= "0" then
    local lockKey = B .. id .. ":lock"
    local holder = rcall("GET", lockKey)
    if holder ~= token then
      if holder then return -6 end
      return -2
    end
    rcall("DEL", lockKey)
  end
  rcall("SREM", B .. "stalled", id)
  return 0
end

-- Job `id`'s hash is gone (deleted while it ran): its id leaves active, with its lock when that
-- is `token`'s or there is none (a lock under another token is that holder's to drop). Left in
-- active, the stalled check would put the id back in wait once the lock expired, and a take
-- would run a job that no longer exists. Returns -1, the "no job" code, for the caller to reply.
local function dropGone(B, id, token)
  local lockKey = B .. id .. ":lock"
  local holder = rcall("GET", lockKey)
  if holder and holder ~= token then return -1 end
  if holder then rcall("DEL", lockKey) end
  rcall("LREM", B .. "active", -1, id)
  rcall("SREM", B .. "stalled", id)
  return -1
end
