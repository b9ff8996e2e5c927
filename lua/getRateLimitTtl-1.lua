--[[
  getRateLimitTtl: how long the rate limiter still holds workers back (PROTOCOL.md §12.17).

  KEYS[1]  queue base "prefix:name:"
  ARGV[1]  max jobs, or "0" to use the queue's global max

  Returns the TTL in ms when the limit is reached, else 0; with no max anywhere, the raw PTTL of
  the limiter key (-2 when absent). Events: none.
]]
local B = KEYS[1]
local max = tonumber(ARGV[1])
if not max or max == 0 then max = tonumber(redis.call("HGET", B .. "meta", "max")) end
if max then
  local used = tonumber(redis.call("GET", B .. "limiter"))
  if used and used >= max then return redis.call("PTTL", B .. "limiter") end
  return 0
end
return redis.call("PTTL", B .. "limiter")
