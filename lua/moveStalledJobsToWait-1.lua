--[[
  moveStalledJobsToWait: the stalled check (PROTOCOL.md §11.3). At most once per interval across
  all workers: every job that was a candidate at the previous check and still has no lock is put
  back at the front of wait; one that stalled more than maxStalledCount times gets a deferred
  failure (`defa`) for the next worker to apply. Then every active job becomes a candidate; a
  lock renewal removes it again. A candidate whose hash is gone just leaves active.

  KEYS[1]  queue base "prefix:name:"
  ARGV[1]  maxStalledCount   ARGV[2] now   ARGV[3] stalled interval (ms)

  Returns the ids recovered in this run.
  Events: waiting (prev=active) and stalled per recovered job.
]]
--@include "includes/base.lua"

local B = KEYS[1]
local maxStalled, now, interval = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local checkKey = B .. "stalled-check"
if rcall("EXISTS", checkKey) == 1 then return {} end
rcall("SET", checkKey, now, "PX", interval)
rcall("XTRIM", B .. "events", "MAXLEN", "~", eventsCap(B))

local stalledKey, activeKey = B .. "stalled", B .. "active"
local recovered = {}
local candidates = rcall("SMEMBERS", stalledKey)
if #candidates > 0 then
  rcall("DEL", stalledKey)
  local blocked = isBlocked(B)
  for _, id in ipairs(candidates) do
    if string.sub(id, 1, 2) == "0:" then
      rcall("LREM", activeKey, 1, id)
    elseif rcall("EXISTS", B .. id .. ":lock") == 0 and rcall("LREM", activeKey, 1, id) == 1
        and rcall("EXISTS", B .. id) == 1 then
      -- (A job whose hash is gone just leaves active: there is nothing to run again, and
      -- HINCRBY would recreate a hash of bookkeeping fields only.)
      local jobKey = B .. id
      local stc = rcall("HINCRBY", jobKey, "stc", 1)
      local rjk = rcall("HGET", jobKey, "rjk")
      local scheduled = rjk and (rcall("EXISTS", B .. "repeat:" .. rjk) == 1 or rcall("ZSCORE", B .. "repeat", rjk))
      if stc > maxStalled and not scheduled then
        local reason = "job stalled more than allowable limit"
        -- Its last run was alone in its worker (markRunAlone): nothing else ran there to blame.
        if rcall("HGET", jobKey, "iso") == tostring(stc - 1) then
          reason = reason .. ": it was running alone in its worker when the worker died or lost"
            .. " its lock, so the job itself is the likely cause"
        end
        rcall("HSET", jobKey, "defa", reason)
      end
      pushWait(B, id, "RPUSH", blocked)
      emit(B, false, "event", "waiting", "jobId", id, "prev", "active")
      emit(B, false, "event", "stalled", "jobId", id)
      recovered[#recovered + 1] = id
    end
  end
end

local active = rcall("LRANGE", activeKey, 0, -1)
for i = 1, #active, 7000 do
  rcall("SADD", stalledKey, unpack(active, i, math.min(i + 6999, #active)))
end
return recovered
