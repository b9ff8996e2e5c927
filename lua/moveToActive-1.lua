--[[
  moveToActive: take the next job for a worker (PROTOCOL.md §12.2): promote due delayed jobs,
  honour the rate limiter, pause and global concurrency, pop from wait (then prioritized), lock
  the job, stamp processedOn/pb, count the attempt start and wake other workers.

  KEYS[1]  queue base "prefix:name:"
  ARGV[1]  now (ms; "" = the server's clock: a take pipelined behind the marker wait)
  ARGV[2]  lock token ("0" = no lock)   ARGV[3] lock duration (ms)
  ARGV[4]  limiter max or "" ARGV[5] limiter duration (ms) or ""  ARGV[6] worker name or ""

  Returns {flat job hash, id, 0, 0} | {0, 0, rateLimitTtl, 0} | {0, 0, 0, nextDelayedDueMs or 0};
  the hash is empty when the id taken was a ghost (its job gone), dropped from active.
  Events: waiting (prev=delayed) per promoted job, active (prev=waiting).
]]
--@include "includes/base.lua"
--@include "includes/fetch.lua"
--@include "includes/fair.lua"

return fetchNext(KEYS[1], fetchOptions(1))
