--[[
  removeDeduplicationKey: delete a deduplication key only if the given job owns it.

  KEYS[1]  queue base "prefix:name:"
  ARGV[1]  dedup id   ARGV[2] job id

  Returns 1 when deleted, else 0. Events: none.
]]
local key = KEYS[1] .. "de:" .. ARGV[1]
if redis.call("GET", key) == ARGV[2] then
  return redis.call("DEL", key)
end
return 0
