--[[
  transaction: the application's own writes and job adds to one queue, as one unit (written for
  this project; the Rust side is src/queue/transaction.rs). Redis cannot undo a command that
  fails half way through a script, so the script runs in two phases: the check phase reads
  everything a write could fail on, simulating the unit's own effects on the keys it touches
  (a key deleted, then written as a hash, is a hash), and refuses the call before any write;
  only then the write phase runs: the app commands in order, then the adds (addBatch).

  KEYS[1]      queue base "prefix:name:"
  KEYS[1 + i]  the key of app command i (1-based)
  ARGV[1]      number of app commands m
  ARGV[2]      number of jobs n
  then per app command: its name (SET DEL PEXPIRE INCRBY HSET HINCRBY LPUSH RPUSH SADD SREM ZADD
    ZREM), its argument count c and c arguments (the key not counted; SET may end in PX ms)
  then per job the 12 fields of addJobs-1.lua

  Returns {"ok", replies, ids}: each app command's reply in order (INCRBY and HINCRBY: the new
  value as decimal text, exact where a Lua number is not), one id per job (new, existing
  duplicate, or dedup owner); or, with nothing written,
  {"refused", what, command, index (1-based, among the app commands or, for command "add", the
  jobs), key, detail}, what being:
    "wrongtype"      the key holds `detail` (a type) where the command needs another
    "notint"         the INCRBY/HINCRBY target (`detail`: the hash field) is not an integer
    "overflow"       the increment would leave the signed 64-bit range
    "parent"         (-5) the job's parent `key` does not exist
    "parentreplace"  (-7) the job's custom id belongs to another live parent
]]
--@include "includes/base.lua"
--@include "includes/remove.lua"
--@include "includes/store.lua"
--@include "includes/add.lua"

local B = KEYS[1]
local m, n = tonumber(ARGV[1]), tonumber(ARGV[2])

local function refuse(what, command, index, key, detail)
  return { "refused", what, command, index, key, detail or "" }
end

-- Signed 64-bit integers as hi * 1e9 + lo (0 <= lo < 1e9): exact in Lua's doubles, where a
-- full 64-bit value is not.
local E9 = 1000000000

-- Normalises hi, lo; nil, nil outside [-2^63, 2^63 - 1]
-- (-2^63 = -9223372037 * 1e9 + 145224192).
local function norm(hi, lo)
  local c = math.floor(lo / E9)
  hi, lo = hi + c, lo - c * E9
  if hi > 9223372036 or (hi == 9223372036 and lo > 854775807) then return nil, nil end
  if hi < -9223372037 or (hi == -9223372037 and lo < 145224192) then return nil, nil end
  return hi, lo
end

-- A value as Redis's INCRBY/HINCRBY read it (string2ll: an optional '-', no leading zero, no
-- other character, at most 20 characters, in range); false or nil (missing) reads as 0.
local function parse(s)
  if not s then return 0, 0 end
  if s == "0" then return 0, 0 end
  if #s > 20 then return nil, nil end
  local neg, digits = false, s
  if string.sub(s, 1, 1) == "-" then neg, digits = true, string.sub(s, 2) end
  if #digits > 19 or not string.find(digits, "^[1-9]%d*$") then return nil, nil end
  local hi, lo = 0, tonumber(digits)
  if #digits > 9 then
    hi, lo = tonumber(string.sub(digits, 1, #digits - 9)), tonumber(string.sub(digits, -9))
  end
  if neg then hi, lo = -hi, -lo end
  return norm(hi, lo)
end

local function text(hi, lo)
  if hi == 0 then return string.format("%d", lo) end
  if hi > 0 then return string.format("%d%09d", hi, lo) end
  -- Negative: the magnitude is -hi * 1e9 - lo.
  local mh, ml = -hi, 0
  if lo > 0 then mh, ml = -hi - 1, E9 - lo end
  if mh == 0 then return string.format("-%d", ml) end
  return string.format("-%d%09d", mh, ml)
end

-- `s` plus the decimal `delta`: the new value's text, or nil and "notint" | "overflow".
local function increment(s, delta)
  local h1, l1 = parse(s)
  if not h1 then return nil, "notint" end
  local h2, l2 = parse(delta)
  local h, l = norm(h1 + h2, l1 + l2)
  if not h then return nil, "overflow" end
  return text(h, l)
end

-- The check phase's view of each key the unit touches: its type, whether its content is the
-- unit's own (`own`: set or deleted by an earlier command, so Redis's is no longer relevant),
-- the string value and the hash fields known so far (false: known missing).
local view = {}
local function viewOf(key)
  local v = view[key]
  if not v then
    v = { t = rcall("TYPE", key)["ok"], own = false, f = {} }
    view[key] = v
  end
  return v
end
local function stringValue(v, key)
  if v.s == nil then v.s = (not v.own and v.t == "string") and rcall("GET", key) or false end
  return v.s
end
local function fieldValue(v, key, field)
  if v.f[field] == nil then v.f[field] = (not v.own and v.t == "hash") and rcall("HGET", key, field) or false end
  return v.f[field]
end

-- The type each command needs (none: any); what it leaves is the same type.
local NEEDS = { INCRBY = "string", HSET = "hash", HINCRBY = "hash", LPUSH = "list", RPUSH = "list",
  SADD = "set", SREM = "set", ZADD = "zset", ZREM = "zset" }
-- Removing members may leave the key empty (deleted) or missing: its type is not set by them.
local REMOVES = { SREM = true, ZREM = true }

local cmds = {}
local a = 3
for i = 1, m do
  local name, c, key = ARGV[a], tonumber(ARGV[a + 1]), KEYS[1 + i]
  local args = {}
  for j = 1, c do args[j] = ARGV[a + 1 + j] end
  a = a + 2 + c
  cmds[i] = { name, key, args }
  local v = viewOf(key)
  local need = NEEDS[name]
  if need and v.t ~= "none" and v.t ~= need then return refuse("wrongtype", name, i, key, v.t) end
  if name == "SET" then
    view[key] = { t = "string", own = true, s = args[1], f = {} }
  elseif name == "DEL" then
    view[key] = { t = "none", own = true, s = false, f = {} }
  elseif name == "INCRBY" then
    local new, why = increment(stringValue(v, key), args[1])
    if not new then return refuse(why, name, i, key) end
    v.t, v.s = "string", new
    cmds[i][4] = new
  elseif name == "HINCRBY" then
    local new, why = increment(fieldValue(v, key, args[1]), args[2])
    if not new then return refuse(why, name, i, key, args[1]) end
    v.t, v.f[args[1]] = "hash", new
    cmds[i][4] = new
  elseif name == "HSET" then
    for j = 1, c, 2 do v.f[args[j]] = args[j + 1] end
    v.t = "hash"
  elseif need and not REMOVES[name] then
    v.t = need
  elseif name ~= "PEXPIRE" and not need then
    return refuse("unknown", name, i, key)
  end
end

local first = a
if n > 0 then
  -- The queue's own keys the adds write: their types are BullMQ's unless another client broke
  -- them (the app commands cannot touch them: the Rust side refuses keys under the base).
  local group = rcall("HGET", B .. "meta", "fair.group") or nil
  local own = { { B .. "meta", "hash" }, { B .. "id", "string" }, { B .. "pc", "string" },
    { B .. "wait", "list" }, { B .. "active", "list" }, { B .. "prioritized", "zset" },
    { B .. "delayed", "zset" }, { B .. "marker", "zset" }, { B .. "completed", "zset" },
    { B .. "events", "stream" } }
  if group then own[#own + 1] = { group .. "id", "string" } end
  for _, k in ipairs(own) do
    local t = rcall("TYPE", k[1])["ok"]
    if t ~= "none" and t ~= k[2] then return refuse("wrongtype", "add", 1, k[1], t) end
  end
  for _, counterKey in ipairs({ B .. "id", group and group .. "id" or nil }) do
    if not increment(rcall("GET", counterKey), tostring(n)) then return refuse("notint", "add", 1, counterKey) end
  end
  local counter = tostring(idTop(B, group))
  if not increment(rcall("GET", B .. "pc"), tostring(n)) then return refuse("notint", "add", 1, B .. "pc") end

  -- Per job: its hash, its dedup keys, its parent; and the -7 rule of addDuplicate, with the
  -- parent each custom id will have when its turn comes (`parentOf`: false for none).
  local parentOf = {}
  for i = 1, n do
    local f = first + (i - 1) * 12
    local customId, deJson, parentKey = ARGV[f], ARGV[f + 8], ARGV[f + 9]
    local id = customId
    -- As addBatch names it (tostring of the counter's value for this job).
    if id == "" then id = tostring((tonumber(counter) or 0) + i) end
    local jobKey = B .. id
    local t = rcall("TYPE", jobKey)["ok"]
    if t ~= "none" and t ~= "hash" then return refuse("wrongtype", "add", i, jobKey, t) end
    if deJson ~= "" then
      local did = tostring(cjson.decode(deJson).id)
      for _, k in ipairs({ { B .. "de:" .. did, "string" }, { B .. "dn:" .. did, "hash" } }) do
        local dt = rcall("TYPE", k[1])["ok"]
        if dt ~= "none" and dt ~= k[2] then return refuse("wrongtype", "add", i, k[1], dt) end
      end
    end
    if parentKey ~= "" then
      if rcall("EXISTS", parentKey) == 0 then return refuse("parent", "add", i, parentKey) end
      for _, k in ipairs({ { parentKey .. ":dependencies", "set" }, { parentKey .. ":processed", "hash" } }) do
        local pt = rcall("TYPE", k[1])["ok"]
        if pt ~= "none" and pt ~= k[2] then return refuse("wrongtype", "add", i, k[1], pt) end
      end
    end
    if customId ~= "" then
      local current = parentOf[id]
      if current == nil and t == "hash" then current = rcall("HGET", jobKey, "parentKey") end
      if current ~= nil then
        -- A duplicate: refused (-7) when it names another parent and the current one lives
        -- (as the unit's app commands leave it).
        if parentKey ~= "" and current and current ~= parentKey then
          local cv = view[current]
          local lives = (cv and cv.t or rcall("TYPE", current)["ok"]) ~= "none"
          if lives then return refuse("parentreplace", "add", i, parentKey, customId) end
        end
        if parentKey ~= "" then parentOf[id] = parentKey end
      else
        parentOf[id] = parentKey ~= "" and parentKey or false
      end
    end
  end
end

-- Write phase: nothing above wrote.
local replies = {}
for i = 1, m do
  local c = cmds[i]
  replies[i] = rcall(c[1], c[2], unpack(c[3]))
  -- An integer reply reaches Lua as a double, inexact beyond 2^53: INCRBY and HINCRBY answer
  -- the exact text the check phase computed.
  if c[4] then replies[i] = c[4] end
end
local ids = {}
if n > 0 then ids = addBatch(B, ARGV, first, n, {}) end
return { "ok", replies, ids }
