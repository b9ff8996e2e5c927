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
