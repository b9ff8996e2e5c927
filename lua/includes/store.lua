--[[
  Creating a job: write its hash, announce it and put it where it waits (PROTOCOL.md §12.1
  steps 5-7). Needs includes/base.lua.
]]

-- `j` holds: id, name, data, opts (JSON text), ts, delay, priority, lifo (bool), parentKey,
-- parentJson, rjk, deid (each optional field "" or nil when absent).
local function storeAndEnqueue(B, j, cap, blocked)
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
    scheduleDelayed(B, j.id, j.ts + j.delay, cap)
  else
    pushReady(B, j.id, j.priority, j.lifo and "RPUSH" or "LPUSH", blocked)
    emit(B, cap, "event", "waiting", "jobId", j.id)
  end
  if hasParent then
    rcall("SADD", j.parentKey .. ":dependencies", jobKey)
  end
end
