--[[
  Creating a job: write its hash, announce it and put it where it waits (PROTOCOL.md §12.1
  steps 5-7). Needs includes/base.lua.
]]

-- `j` holds: id, name, data, opts (JSON text), ts, delay, priority, lifo (bool), parentKey,
-- parentJson, rjk, deid (each optional field "" or nil when absent).
-- With `batch` (a table), ready jobs are collected for one push per list end and the markers are
-- set once by flushBatch, so a bulk costs a few commands per job; the final Redis state and the
-- events are the same as job-by-job.
local function storeAndEnqueue(B, j, cap, blocked, batch)
  local jobKey = B .. j.id
  local fields = { "name", j.name, "data", j.data, "opts", j.opts, "timestamp", j.ts, "delay", j.delay,
    "priority", j.priority }
  local hasParent = j.parentKey and j.parentKey ~= ""
  if hasParent then
    fields[#fields + 1] = "parentKey"; fields[#fields + 1] = j.parentKey
    fields[#fields + 1] = "parent"; fields[#fields + 1] = j.parentJson
  end
  if j.rjk and j.rjk ~= "" then fields[#fields + 1] = "rjk"; fields[#fields + 1] = j.rjk end
  if j.deid and j.deid ~= "" then fields[#fields + 1] = "deid"; fields[#fields + 1] = j.deid end
  rcall("HSET", jobKey, unpack(fields))
  emit(B, false, "event", "added", "jobId", j.id, "name", j.name)
  if j.delay > 0 then
    if batch then
      local due = j.ts + j.delay
      rcall("ZADD", B .. "delayed", delayedScore(B, due), j.id)
      emit(B, cap, "event", "delayed", "jobId", j.id, "delay", due)
      batch.delayed = true
    else
      scheduleDelayed(B, j.id, j.ts + j.delay, cap)
    end
  else
    if not batch then
      pushReady(B, j.id, j.priority, j.lifo and "RPUSH" or "LPUSH", blocked)
    elseif j.priority and j.priority > 0 then
      pushPrioritized(B, j.id, j.priority, true)
      batch.ready = true
    else
      local list = j.lifo and batch.rpush or batch.lpush
      list[#list + 1] = j.id
      batch.ready = true
    end
    emit(B, cap, "event", "waiting", "jobId", j.id)
  end
  if hasParent then
    rcall("SADD", j.parentKey .. ":dependencies", jobKey)
  end
end

local function newBatch()
  return { lpush = {}, rpush = {}, ready = false, delayed = false }
end

-- Push the collected ids (LPUSH and RPUSH work on different ends, so each keeps its order) and
-- set the markers once.
local function flushBatch(B, batch, blocked)
  for i = 1, #batch.lpush, 1000 do
    rcall("LPUSH", B .. "wait", unpack(batch.lpush, i, math.min(i + 999, #batch.lpush)))
  end
  for i = 1, #batch.rpush, 1000 do
    rcall("RPUSH", B .. "wait", unpack(batch.rpush, i, math.min(i + 999, #batch.rpush)))
  end
  if batch.ready then wakeWorkers(B, blocked) end
  if batch.delayed then markNextDelayed(B) end
end
