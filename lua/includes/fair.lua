--[[
  Fair takes across the tenant queues of a group (src/fair). Needs includes/base.lua and
  includes/fetch.lua. The group G (base GB = "prefix:G:") keeps:
    GB.."ready"    sorted set, tenant -> position: QuiCK's pointer index of tenants with work.
                   A position is ms * 1024 (+ a sequence within the ms at the back of the
                   line); a tenant is visible when its position is within the current ms.
    GB.."tail"     the last back-of-the-line position handed out.
    GB.."busy"     set of tenants with jobs taken (their stalled checks, src/fair).
    GB.."weights"  hash, tenant -> weight (jobs per visit = weight * quantum), optional.
    GB.."credit"   hash, tenant -> what is left of a turn of several jobs a call cut short.
    GB.."capped"   set of tenants a take left out of the index at their cap (or paused): the
                   group's finishes bring them back (fairFreedIn).
    GB.."marker"   the group's marker: the idle workers of the group block on it.
  A tenant T's jobs live in the plain BullMQ queue whose base is o.fair.tenants .. T .. ":".
  Every script that readies or delays a job of T moves T's pointer earlier (fairSignal); only
  a take moves it later or drops it. A stale pointer costs a take one look.
]]

-- Takes up to `want` jobs from the visible tenants, in pointer order, take i locked under
-- "<o.token>:<i>" (under o.token itself with `o.single`), at most `quantum * weight`
-- per visit (and up to the tenant cap), appending hash, id pairs to `out` from index `at`. Each
-- hash gets a `tq` field naming its queue (in the reply only). A visited tenant goes to the back
-- of the line while it has ready jobs, to its next delayed time when it has only delayed ones,
-- and leaves the index when it has nothing, is paused or is at its cap (with its marker
-- cleared, so that the next ready job, or a finish under the cap, signals it again).
-- Returns how many were taken and, when none, the first pointer's time (ms, 0: none).
local function fairTakeMany(o, want, out, at)
  local f = o.fair
  local ready, GB = f.group .. "ready", f.group
  -- The tenant queues' names: "G." .. T (the last part of their base prefix "prefix:G.").
  f.namePrefix = f.namePrefix or string.match(f.tenants, "[^:]*$")
  local visible = o.now * 1024 + 1023
  local tail = tonumber(rcall("GET", GB .. "tail")) or 0
  local moved = false
  local weighted = rcall("EXISTS", GB .. "weights") == 1
  local took, looks = 0, 0
  -- The tenants due, read a call's worth at a time (one ZRANGE, not one per visit); a tenant
  -- visited moves behind them, so a second read finds it again only when they were all seen.
  -- When fewer tenants are due than jobs are wanted, each visit takes `rounds` turns at once
  -- (what that many rounds of one turn each would take, weights kept): the same shares, fewer
  -- visits. One tenant alone is taken from like a plain queue.
  local due, weights, at_, rounds = {}, {}, 1, 1
  while took < want and looks < want + 16 do
    if at_ > #due then
      due = rcall("ZRANGE", ready, "-inf", int(visible), "BYSCORE", "LIMIT", "0", int(want - took))
      at_ = 1
      local w = weighted and #due > 0 and rcall("HMGET", GB .. "weights", unpack(due)) or {}
      local turns = 0
      for k = 1, #due do
        weights[k] = math.max(1, math.floor(f.quantum * (tonumber(w[k]) or 1)))
        turns = turns + weights[k]
      end
      -- All of them were read only when the read came short of its limit.
      rounds = #due < want - took and math.max(1, math.floor((want - took) / turns)) or 1
    end
    local T = due[at_]
    if not T then break end
    local turn = weights[at_]
    at_ = at_ + 1
    looks = looks + 1
    local TB = f.tenants .. T .. ":"
    local t = { now = o.now, nowText = o.nowText, token = o.token, lockDuration = o.lockDuration,
      lockText = o.lockText, limMax = o.limMax, limDuration = o.limDuration, name = o.name,
      tokenOffset = took }
    fetchPrepare(TB, t)
    local active = f.cap and rcall("LLEN", TB .. "active") or 0
    if f.cap and active >= f.cap then t.blocked = true end
    local got, ttl, q, credit = 0, 0, 1, 1
    if not t.blocked then
      q = turn
      -- A turn of more than one job cut short by the end of a call goes on in the next call
      -- (deficit round-robin): what is left of it is kept in GB.."credit".
      credit = q > 1 and tonumber(rcall("HGET", GB .. "credit", T)) or q
      credit = credit + q * (rounds - 1)
      local n = math.min(credit, want - took)
      if f.cap then n = math.min(n, f.cap - active) end
      if n > 1 and canTakeMany(t) then
        got = fetchMany(TB, t, n, out, at + 2 * took)
      else
        for k = 1, n do
          local token = o.single and o.token or o.token .. ":" .. intText(took + k)
          local reply = fetchOne(TB, t, token)
          if reply[1] == 0 then
            ttl = reply[3]
            break
          end
          got = got + 1
          out[at + 2 * (took + got) - 1] = reply[1]
          out[at + 2 * (took + got)] = reply[2]
        end
      end
      local queueName = f.namePrefix .. T
      for k = took + 1, took + got do
        local h = out[at + 2 * k - 1]
        if #h > 0 then
          h[#h + 1] = "tq"
          h[#h + 1] = queueName
        end
      end
      if got > 0 then rcall("SADD", GB .. "busy", T) end
      took = took + got
    end
    if t.blocked then
      rcall("ZREM", ready, T)
      rcall("ZREM", TB .. "marker", "0")
      rcall("SADD", GB .. "capped", T)
    elseif ttl > 0 then
      rcall("ZADD", ready, int((o.now + ttl) * 1024), T)
    elseif hasReady(TB) then
      if got > 0 and got < credit and took == want then
        -- The turn goes on: the pointer stays where it is, at the front.
        rcall("HSET", GB .. "credit", T, int(math.min(q, credit - got)))
      else
        if q > 1 then rcall("HDEL", GB .. "credit", T) end
        tail = math.max(o.now * 1024, tail + 1)
        moved = true
        rcall("ZADD", ready, int(tail), T)
      end
    else
      local next = nextDue(TB, t)
      if next > 0 then
        rcall("ZADD", ready, int(next * 1024), T)
      else
        rcall("ZREM", ready, T)
        -- Nothing left to take: the tenant's queue ran dry (as a BullMQ worker's take reports).
        emit(TB, false, "event", "drained")
      end
      rcall("ZREM", TB .. "marker", "0")
    end
  end
  if moved then rcall("SET", GB .. "tail", int(tail)) end
  if took > 0 then
    -- As many as asked for: more are likely ready, for the group's other idle workers.
    if took == want then rcall("ZADD", GB .. "marker", "0", "0") end
    return took, 0
  end
  local first = rcall("ZRANGE", ready, 0, 0, "WITHSCORES")
  return 0, first[2] and math.max(1, math.floor(tonumber(first[2]) / 1024)) or 0
end

-- fetchNext for a worker of a fair group: one job, replied as fetchOne replies ({hash, id, 0,
-- 0} or {0, 0, 0, first pointer's ms}).
fairNext = function(o)
  local out = {}
  -- One take, locked under the token itself (as moveToActive locks), not "<token>:1".
  o.single = true
  local took, due = fairTakeMany(o, 1, out, 0)
  if took == 0 then return { 0, 0, 0, due } end
  return { out[1], out[2], 0, 0 }
end

-- After a fair group's worker finished jobs of tenant queue `TB` (freeing active slots): a
-- tenant a take left out of the index at its cap (or paused) comes back when it has ready jobs.
-- A plain worker's finishes on a tenant queue leave that to the group's upkeep (fairHeal).
local function fairFreedIn(f, TB)
  local T = string.sub(TB, #f.tenants + 1, -2)
  if rcall("SREM", f.group .. "capped", T) == 1 and hasReady(TB) then
    wakeWorkers(TB, isBlocked(TB))
  end
end
