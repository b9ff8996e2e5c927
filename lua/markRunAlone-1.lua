--[[
  markRunAlone: records on a job that stalled before that this run of it is alone in its worker
  (field `iso`: the stalled count it starts with), so that should the worker die during it, the
  stalled check's failure can say the job is the likely cause. Only under the job's lock: a job
  taken again elsewhere, or deleted, is left as it is (no hash is created).

  KEYS[1]  queue base "prefix:name:"
  ARGV[1]  job id   ARGV[2] lock token   ARGV[3] stalled count

  Returns 1 when recorded, 0 when the lock is not the token's.
  Events: none.
]]
local rcall = redis.call
local B, id = KEYS[1], ARGV[1]
if rcall("GET", B .. id .. ":lock") ~= ARGV[2] or rcall("EXISTS", B .. id) == 0 then return 0 end
rcall("HSET", B .. id, "iso", ARGV[3])
return 1
