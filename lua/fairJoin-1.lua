--[[
  fairJoin: makes a queue a tenant of a fair group (src/fair, includes/fair.lua): its meta names
  the group and the tenant, the group's list of tenants holds it, and work it holds already is
  pointed at in the group's index. Idempotent.

  KEYS[1]  the tenant queue's base "prefix:G.T:"
  ARGV[1]  the group's base "prefix:G:"   ARGV[2] the tenant T
  ARGV[3]  weight ("" = leave as is; a weight of 1 is stored as none)

  Returns 1.
  Events: none.
]]
--@include "includes/base.lua"

local B, GB, T = KEYS[1], ARGV[1], ARGV[2]
rcall("HSET", B .. "meta", "fair.group", GB, "fair.tenant", T)
rcall("ZADD", GB .. "tenants", "NX", "0", T)
if ARGV[3] == "1" then
  rcall("HDEL", GB .. "weights", T)
elseif ARGV[3] ~= "" then
  rcall("HSET", GB .. "weights", T, ARGV[3])
end
if hasReady(B) and not isBlocked(B) then
  rcall("ZADD", B .. "marker", "0", "0")
  fairSignal(B, 0)
end
markNextDelayed(B)
return 1
