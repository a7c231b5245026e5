"""Lua scripts behind the task registry: each state change is one atomic round trip.

Every script gets the same first argument, a JSON object with the key templates and limits
(``TaskRegistry._config``), so key names still come only from ``tasks.keys``. Times come from
Redis's own clock, so API hosts and workers with drifting clocks still agree.
"""

# Shared by every script: config, clock, the event stream, the metrics buckets and the
# waiting sets (one sorted set per channel and priority, scored by accept time).
PRELUDE = """
local cfg = cjson.decode(ARGV[1])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local now_s = string.format('%.6f', now)
-- Numbers a script passes to Redis, as strings made once: Lua formats a number argument
-- with sprintf on every call, and Redis parses it back.
local TTL, MAXLEN = tostring(cfg.ttl), tostring(cfg.maxlen)

local function task_key(id) return string.format(cfg.task, id) end
local function waiting_key(channel, priority)
  return string.format(cfg.queued, channel, priority)
end
local function customer_key(customer) return string.format(cfg.customer_tasks, customer) end

-- Erasure finds a customer's tasks through its index, so the index must outlive each of
-- them. After an accept it lives at least TTL + grace / 2 more; only a task changed more
-- than grace / 2 after its accept (a long pause, a late retry) could outlive that, and such
-- a change extends it. In the usual case this is a comparison, no write.
local function hold_customer_index(customer, created)
  if customer and created and now - tonumber(created) > cfg.customer_grace / 2 then
    redis.call('EXPIRE', customer_key(customer), cfg.ttl + cfg.customer_grace)
  end
end

-- A task's Celery message goes to its queue's list, or, while its priority is paused, to a
-- parked list no worker reads (``PAUSE`` and ``RESUME`` move them between the two).
local paused_priorities
local function message_list(list_key, channel, priority)
  if paused_priorities == nil then
    paused_priorities = {}
    for _, p in ipairs(redis.call('SMEMBERS', cfg.paused_priorities)) do
      paused_priorities[p] = true
    end
  end
  if paused_priorities[priority] then return string.format(cfg.parked, channel, priority) end
  return list_key
end
local function enqueue(list_key, message, channel, priority)
  redis.call('LPUSH', message_list(list_key, channel, priority), message)
end

-- Appends an event to the stream; returns its stream id and its JSON. ``result``, when
-- given, is a result's JSON text, spliced in as the member "result" rather than decoded and
-- encoded again: a result is the largest part of an event.
local function append_event(event, result)
  local encoded = cjson.encode(event)
  if result then encoded = string.sub(encoded, 1, -2) .. ',"result":' .. result .. '}' end
  return redis.call('XADD', cfg.events, 'MAXLEN', '~', MAXLEN, '*', 'event', encoded),
         encoded
end

-- A task finished: when a request waits for it (GET /task/{id}?wait=, which marks it
-- awaited), its id goes to the API processes. One EXISTS per finished task when nobody waits.
local function tell_waiters(id)
  if redis.call('EXISTS', string.format(cfg.awaited, id)) == 1 then
    redis.call('PUBLISH', cfg.task_finished, id)
  end
end

-- Webhooks: an event is copied to the outbox (which the webhook dispatcher reads) only when
-- someone is to be told: the task has a callback_url, or a subscription wants the event's
-- type. The subscribed types are read once per script run, so when webhooks are unused a
-- script does one SMEMBERS of an empty set and nothing per task. ``owner``, when given, is
-- the task's owner already read.
local webhook_types
local function webhook(kind, event_id, encoded, key, callback, owner)
  if webhook_types == nil then
    webhook_types = {}
    for _, t in ipairs(redis.call('SMEMBERS', cfg.webhook_events)) do webhook_types[t] = true end
  end
  if not (callback or webhook_types[kind]) then return end
  local entry = {'kind', kind, 'event_id', event_id, 'event', encoded,
                 'owner', owner or redis.call('HGET', key, 'owner') or ''}
  if callback then
    entry[#entry + 1] = 'callback'
    entry[#entry + 1] = callback
  end
  redis.call('XADD', cfg.outbox, 'MAXLEN', '~', cfg.outbox_maxlen, '*', unpack(entry))
end
local WEBHOOK_KINDS = {completed = 'task.completed', failed = 'task.failed'}
local FINISHED = {completed = true, failed = true, cancelled = true}  -- registry.FINISHED_STATUSES

-- A task's state change. ``f``, when given, holds the task's channel, priority,
-- customer_id, worker, request_id, callback_url and owner already read; ``result`` as for
-- ``append_event``. A finished task also tells its waiters.
local function emit(key, id, status, extra, f, result)
  f = f or redis.call('HMGET', key, 'channel', 'priority', 'customer_id', 'worker',
                      'request_id', 'callback_url', 'owner')
  local event = {task_id = id, status = status, channel = f[1], priority = f[2],
                 customer_id = f[3] or cjson.null, worker = f[4] or cjson.null,
                 request_id = f[5] or cjson.null, owner = f[7] or cjson.null, at = now}
  if extra then for k, v in pairs(extra) do event[k] = v end end
  local event_id, encoded = append_event(event, result)
  local kind = WEBHOOK_KINDS[status]
  if kind then webhook(kind, event_id, encoded, key, f[6], f[7]) end
  if FINISHED[status] then tell_waiters(id) end
end

-- Sorted-set writes of a script run, grouped by key and sent in a few variadic calls at
-- its end: one ZADD or ZREM per key rather than one per task.
local zadds, zrems = {}, {}
local function defer(pending, key, ...)
  local members = pending[key] or {}
  pending[key] = members
  for i = 1, select('#', ...) do members[#members + 1] = select(i, ...) end
end
local function write_sets()
  for _, writes in ipairs({{'ZREM', zrems}, {'ZADD', zadds}}) do
    for key, members in pairs(writes[2]) do
      -- 1,000 arguments a call: an even count keeps ZADD's score and member together.
      for i = 1, #members, 1000 do
        redis.call(writes[1], key, unpack(members, i, math.min(i + 999, #members)))
      end
    end
  end
  zadds, zrems = {}, {}
end

-- Metrics are summed per channel in ``tally`` while a script runs, and written once at its
-- end: each field per channel ('completed:chat') and over all channels ('completed').
local tally = {}
local function count(channel, increments)
  local sums = tally[channel]
  if not sums then
    sums = {}
    tally[channel] = sums
  end
  for field, n in pairs(increments) do sums[field] = (sums[field] or 0) + n end
end
local function write_tally()
  if next(tally) == nil then return end
  local key = string.format(cfg.metrics, math.floor(now / cfg.bucket_seconds))
  local totals = {}
  for channel, sums in pairs(tally) do
    for field, n in pairs(sums) do
      redis.call('HINCRBYFLOAT', key, field .. ':' .. channel, n)
      totals[field] = (totals[field] or 0) + n
    end
  end
  for field, n in pairs(totals) do redis.call('HINCRBYFLOAT', key, field, n) end
  redis.call('EXPIRE', key, cfg.metrics_ttl)
end

-- Same rule as tasks.metrics.bin_index.
local function latency_bin(ms)
  if ms <= cfg.bin_base then return 'latency_bin:0' end
  local index = math.ceil(math.log(ms / cfg.bin_base) / math.log(cfg.bin_growth))
  return 'latency_bin:' .. math.min(index, cfg.bin_count - 1)
end

-- A failed task also enters the dead-letter set, from which operators list and retry.
-- Tasks failed by one run get distinct scores, so a page boundary never falls between ties.
local failures = 0
local function fail(key, id, code, message)
  local f = redis.call('HMGET', key, 'channel', 'priority', 'customer_id', 'created_at')
  redis.call('ZREM', waiting_key(f[1], f[2]), id)
  redis.call('ZREM', cfg.processing, id)
  redis.call('HSET', key, 'status', 'failed', 'error_code', code, 'error_message', message,
             'finished_at', now_s)
  redis.call('EXPIRE', key, TTL)
  hold_customer_index(f[3], f[4])
  redis.call('ZADD', cfg.dead, now + failures / 1000000, id)
  failures = failures + 1
  count(f[1], {failed = 1, ['failed_' .. code] = 1})
  emit(key, id, 'failed', {error = {code = code, message = message}})
end
"""

# ARGV[2] a JSON object: items (each id, channel, priority, timeout (seconds or null),
# fields, idempotency_key (or null), group), groups (each [list key, Celery message naming
# its items' ids]) and capacity (0: none). Stores the items and enqueues the messages of the
# groups that got at least one, in one step. Returns, per item, {'accepted', position},
# {'duplicate', earlier task id} or {'full', tasks waiting}; then the recent completion
# figures the wait estimate is built from: completed, service_ms, covered.
ACCEPT = PRELUDE + """
local batch = cjson.decode(ARGV[2])

-- Tasks waiting per priority, kept current as items are added: positions need no recount.
local waiting, total = {}, 0
for _, p in ipairs(cfg.priorities) do
  waiting[p] = 0
  for _, channel in ipairs(cfg.channels) do
    waiting[p] = waiting[p] + redis.call('ZCARD', waiting_key(channel, p))
  end
  total = total + waiting[p]
end

local out, used, customers = {}, {}, {}
for i, item in ipairs(batch.items) do
  local earlier = item.idempotency_key ~= cjson.null and redis.call('GET', item.idempotency_key)
  if earlier then
    out[i] = {'duplicate', earlier}
  elseif batch.capacity > 0 and total >= batch.capacity then
    out[i] = {'full', total}
  else
    local key = task_key(item.id)
    local fields = {'status', 'queued', 'channel', item.channel, 'priority', item.priority,
                    'created_at', now_s, 'attempts', 0}
    for field, value in pairs(item.fields) do
      fields[#fields + 1] = field
      fields[#fields + 1] = tostring(value)
    end
    if item.timeout ~= cjson.null then
      fields[#fields + 1] = 'expires_at'
      fields[#fields + 1] = string.format('%.6f', now + item.timeout)
    end
    if item.idempotency_key ~= cjson.null then  -- so that erasure can remove the key too
      fields[#fields + 1] = 'idempotency_key'
      fields[#fields + 1] = item.idempotency_key
    end
    redis.call('HSET', key, unpack(fields))
    redis.call('EXPIRE', key, TTL)
    defer(zadds, waiting_key(item.channel, item.priority), now_s, item.id)
    defer(zadds, cfg.task_index, now_s, item.id)
    local customer = item.fields.customer_id
    if customer ~= nil then
      defer(zadds, customer_key(customer), now_s, item.id)
      customers[customer] = item.id
    end
    if item.idempotency_key ~= cjson.null then
      redis.call('SET', item.idempotency_key, item.id, 'EX', cfg.idempotency_ttl)
    end
    emit(key, item.id, 'queued', nil, {item.channel, item.priority, customer, nil,
                                       item.fields.request_id, item.fields.callback_url,
                                       item.fields.owner})
    waiting[item.priority] = waiting[item.priority] + 1
    total = total + 1
    local position = 0
    for _, p in ipairs(cfg.priorities) do
      position = position + waiting[p]
      if p == item.priority then break end
    end
    out[i] = {'accepted', position}
    used[item.group] = {item.channel, item.priority}
  end
end
for group, route in ipairs(batch.groups) do
  if used[group] then enqueue(route[1], route[2], used[group][1], used[group][2]) end
end
write_sets()

-- The indexes of GET /tasks: ids accepted more than TTL ago leave the index of all tasks
-- (each costs one removal, once); a customer's index keeps an old id while its task lives.
local horizon = string.format('%.6f', now - cfg.ttl)
if next(used) ~= nil then redis.call('ZREMRANGEBYSCORE', cfg.task_index, '-inf', horizon) end
for customer, id in pairs(customers) do
  local index = customer_key(customer)
  -- EXPIRE is a write the AOF and replicas receive: renewed only once per grace / 2.
  if redis.call('TTL', index) < cfg.ttl + cfg.customer_grace / 2 then
    redis.call('EXPIRE', index, cfg.ttl + cfg.customer_grace)
  end
  -- Amortised: one accept in 16 (by its random id's last digit) drops up to 32 ids whose
  -- task is gone, more than 16 accepts add, so gone ids do not pile up.
  if string.sub(id, -1) == '0' then
    for _, old in ipairs(redis.call('ZRANGEBYSCORE', index, '-inf', horizon, 'LIMIT', 0, 32)) do
      if redis.call('EXISTS', task_key(old)) == 0 then redis.call('ZREM', index, old) end
    end
  end
end

local completed, service_ms = 0, 0
local last = math.floor(now / cfg.bucket_seconds)
local first = math.floor((now - cfg.estimate_window) / cfg.bucket_seconds) + 1
for bucket = first, last do
  local f = redis.call('HMGET', string.format(cfg.metrics, bucket), 'completed', 'service_ms')
  completed = completed + (tonumber(f[1]) or 0)
  service_ms = service_ms + (tonumber(f[2]) or 0)
end
out[#out + 1] = {tostring(completed), tostring(service_ms),
                 tostring(now - first * cfg.bucket_seconds)}
return out
"""

# ARGV[2] the worker's name, ARGV[3..] task ids. Moves each queued task (or one processing
# since before REQUEUE_AFTER: its worker died) to processing and returns its text, attempt
# and request id (false when it has none), for the worker's log lines; a task
# processing for less is 'busy'. A task whose timeout has passed, or
# whose worker died during every allowed attempt, fails instead. Records, per channel and
# priority, the accept time of the newest task claimed: a list is served oldest first, so
# an older task still waiting long after that has lost its message (see REQUEUE_LOST).
CLAIM = PRELUDE + """
local worker = ARGV[2]
local out, newest = {}, {}
for i = 3, #ARGV do
  local id = ARGV[i]
  local key = task_key(id)
  local f = redis.call('HMGET', key, 'status', 'text', 'expires_at', 'channel', 'priority',
                       'attempts', 'created_at', 'started_at', 'request_id', 'customer_id',
                       'callback_url', 'owner')
  local status = f[1]
  if not status then
    out[#out + 1] = {id, 'missing'}
  elseif status == 'queued' and message_list('', f[4], f[5]) ~= '' then
    -- Its priority was paused after this message left the queue: the worker parks it again.
    out[#out + 1] = {id, 'paused'}
  elseif status == 'processing' and tonumber(f[8]) > now - cfg.requeue_after then
    -- Claimed recently by another message (a duplicate): that claim finishes it. Were its
    -- worker lost, the requeue sweep brings the task back once REQUEUE_AFTER has passed.
    out[#out + 1] = {id, 'busy'}
  elseif status == 'queued' or status == 'processing' then
    defer(zrems, waiting_key(f[4], f[5]), id)
    local list = f[4] .. ':' .. f[5]
    if not newest[list] or tonumber(f[7]) > tonumber(newest[list]) then newest[list] = f[7] end
    if f[3] and tonumber(f[3]) < now then
      fail(key, id, 'TASK_EXPIRED', 'the task was not started before its timeout')
      out[#out + 1] = {id, 'expired'}
    elseif tonumber(f[6]) >= cfg.max_attempts then
      -- Every earlier attempt ended with its worker gone: a poison message must not loop.
      fail(key, id, 'TOO_MANY_ATTEMPTS',
           'the worker was lost during each of ' .. f[6] .. ' attempts')
      out[#out + 1] = {id, 'failed'}
    else
      local attempt = tonumber(f[6]) + 1
      redis.call('HSET', key, 'status', 'processing', 'started_at', now_s, 'worker', worker,
                 'attempts', attempt)
      redis.call('EXPIRE', key, TTL)
      hold_customer_index(f[10], f[7])
      defer(zadds, cfg.processing, now_s, id)
      emit(key, id, 'processing', {attempt = attempt, worker = worker},
           {f[4], f[5], f[10], worker, f[9], f[11], f[12]})
      out[#out + 1] = {id, 'claimed', f[2], attempt, f[9]}
    end
  else
    out[#out + 1] = {id, status}
  end
end
for list, created in pairs(newest) do
  local known = tonumber(redis.call('HGET', cfg.claimed_upto, list) or 0)
  if tonumber(created) > known then redis.call('HSET', cfg.claimed_upto, list, created) end
end
write_sets()
write_tally()
return out
"""

# The escalation rules (documented in tasks/escalation.py and the README). Pure functions:
# no Redis call, so tests run them alone. ``rules`` is ``EscalationRules.config()``;
# ``previous`` the customer's earlier rule scores within the window, newest first.
ESCALATION = """
local function escalation_reasons(rules, score, channel, priority, previous)
  local reasons = {}
  if score <= rules.negative_threshold then
    if rules.priorities[priority] then
      reasons[#reasons + 1] = {rule = 'strongly_negative_priority', message = string.format(
        'score %.4f is at or below %g on a %s-priority message', score,
        rules.negative_threshold, priority)}
    end
    if rules.channels[channel] then
      reasons[#reasons + 1] = {rule = 'strongly_negative_channel', message = string.format(
        'score %.4f is at or below %g on a %s message', score, rules.negative_threshold,
        channel)}
    end
  end
  local n = rules.worsening_messages
  if n >= 2 and #previous >= n - 1 and score <= rules.worsening_max_compound then
    local falling, newer = true, score
    for i = 1, n - 1 do
      if not (newer < previous[i]) then
        falling = false
        break
      end
      newer = previous[i]
    end
    if falling then
      local scores = {}
      for i = n - 1, 1, -1 do scores[#scores + 1] = string.format('%.4f', previous[i]) end
      scores[#scores + 1] = string.format('%.4f', score)
      reasons[#reasons + 1] = {rule = 'customer_worsening', message = string.format(
        "the customer's last %d messages each scored lower than the one before: %s", n,
        table.concat(scores, ', '))}
    end
  end
  return reasons
end
"""

# ARGV[2] a JSON list of [task id, rule score (or null), sentiment label]; ARGV[3], ARGV[4]
# ... each item's result as JSON text without its closing brace, which is stored and sent on
# as it is, once ``escalate`` is appended: decoding and encoding results took most of this
# script's time, and each copy of a result made here is a string Lua allocates and hashes.
# Only a processing task completes, so a redelivered message never counts twice, and never
# enters its customer's history twice. Marks each result ``escalate`` (with
# ``escalation_reasons`` when true) and appends an ``escalation`` event after its
# completion. Returns how many this completed.
COMPLETE = PRELUDE + ESCALATION + """
local rules = cfg.escalation

-- Up to ``count`` rule scores of a customer's messages within the worsening window, newest
-- first. A history entry is the JSON array [task id, channel, sentiment, score, owner].
local function earlier_scores(history, count)
  if count < 1 then return {} end
  local since = '(' .. string.format('%.6f', now - rules.worsening_window)
  local scores = {}
  for i, entry in ipairs(redis.call('ZREVRANGEBYSCORE', history, '+inf', since,
                                    'LIMIT', 0, count)) do
    scores[i] = cjson.decode(entry)[4]
  end
  return scores
end

local function record(history, at, entry)
  redis.call('ZADD', history, string.format('%.6f', at), cjson.encode(entry))
  redis.call('ZREMRANGEBYRANK', history, 0, -(rules.history_size + 1))
  redis.call('EXPIRE', history, rules.history_ttl)
end

local done = 0
local items = cjson.decode(ARGV[2])
for i, item in ipairs(items) do
  local id, score, sentiment, result = item[1], item[2], item[3], ARGV[i + 2]
  local key = task_key(id)
  local f = redis.call('HMGET', key, 'status', 'created_at', 'started_at', 'channel',
                       'priority', 'customer_id', 'worker', 'owner', 'request_id',
                       'callback_url')
  if f[1] == 'processing' then
    local reasons = {}
    if type(score) == 'number' then
      local previous = {}
      if f[6] and rules.history_size > 0 then
        local history = string.format(cfg.customer_history, f[6])
        previous = earlier_scores(history, rules.worsening_messages - 1)
        -- Items of one call are apart by a microsecond, so their order survives.
        record(history, now + (i - 1) / 1000000,
               {id, f[4], sentiment, score, f[8] or cjson.null})
      end
      reasons = escalation_reasons(rules, score, f[4], f[5], previous)
    end
    local escalate = #reasons > 0
    if escalate then
      result = result .. ',"escalate":true,"escalation_reasons":' .. cjson.encode(reasons) .. '}'
    else
      result = result .. ',"escalate":false}'
    end
    redis.call('HSET', key, 'status', 'completed', 'result', result, 'finished_at', now_s)
    redis.call('EXPIRE', key, TTL)
    hold_customer_index(f[6], f[2])
    defer(zrems, cfg.processing, id)
    local latency_ms = (now - tonumber(f[2])) * 1000
    local increments = {completed = 1, ['sentiment_' .. sentiment] = 1,
                        latency_ms = latency_ms, [latency_bin(latency_ms)] = 1,
                        -- the message's time, shared by the tasks it carried
                        service_ms = (now - tonumber(f[3])) * 1000 / #items}
    if escalate then
      increments.escalated = 1
      for _, reason in ipairs(reasons) do increments['escalated_' .. reason.rule] = 1 end
    end
    count(f[4], increments)
    emit(key, id, 'completed', nil, {f[4], f[5], f[6], f[7], f[9], f[10], f[8]}, result)
    if escalate then
      local event_id, encoded = append_event({
        type = 'escalation', task_id = id, channel = f[4], priority = f[5],
        customer_id = f[6] or cjson.null, sentiment = sentiment, compound = score,
        reasons = reasons, owner = f[8] or cjson.null, at = now})
      webhook('task.escalated', event_id, encoded, key, false, f[8])
    end
    done = done + 1
  end
end
write_sets()
write_tally()
return done
"""

# ARGV[2] id, ARGV[3] error code, ARGV[4] message. Returns 1 when this call failed the task.
FAIL = PRELUDE + """
local id = ARGV[2]
local key = task_key(id)
local status = redis.call('HGET', key, 'status')
if status ~= 'processing' and status ~= 'queued' then return 0 end
fail(key, id, ARGV[3], ARGV[4])
write_tally()
return 1
"""

# ARGV[2] cutoff (seconds since the epoch), ARGV[3] a JSON object {task id: [list key,
# message]}, ARGV[4] '1' to give back the attempt (a release: the task did nothing wrong).
# Puts each task back in its queue with a new message when it is
#  - still processing since before the cutoff: its worker died or lost Redis, and its own
#    message may sit unacknowledged for the whole visibility timeout; or
#  - still waiting since before the cutoff although its list is empty, or a task accepted
#    after it on the same list was already claimed (lists are served oldest first): its
#    message was lost. kombu pops a message, then records it as unacknowledged; a Redis
#    crash in between leaves the message only in a worker that is going down.
# The task is rescored as accepted now, like its new message at the back of the list.
# Returns the ids requeued.
REQUEUE = PRELUDE + """
local cutoff = tonumber(ARGV[2])
local requeued = {}
for id, route in pairs(cjson.decode(ARGV[3])) do
  local key = task_key(id)
  local f = redis.call('HMGET', key, 'status', 'started_at', 'channel', 'priority')
  local stale = f[1] == 'processing' and tonumber(f[2]) < cutoff
  if f[1] == 'queued' then
    local waiting = redis.call('ZSCORE', waiting_key(f[3], f[4]), id)
    if waiting and tonumber(waiting) < cutoff then
      local newest = redis.call('HGET', cfg.claimed_upto, f[3] .. ':' .. f[4])
      stale = redis.call('LLEN', message_list(route[1], f[3], f[4])) == 0
              or (newest ~= false and tonumber(newest) > tonumber(waiting))
    end
  end
  if stale then
    redis.call('HSET', key, 'status', 'queued')
    if ARGV[4] == '1' and f[1] == 'processing' then redis.call('HINCRBY', key, 'attempts', -1) end
    redis.call('ZREM', cfg.processing, id)
    redis.call('ZADD', waiting_key(f[3], f[4]), now, id)
    enqueue(route[1], route[2], f[3], f[4])
    emit(key, id, 'queued', {requeued = true})
    requeued[#requeued + 1] = id
  elseif f[1] ~= 'processing' then
    redis.call('ZREM', cfg.processing, id)
  end
end
return requeued
"""

# ARGV[2] a JSON object {task id: [list key, message]}. Sends failed tasks back to their
# queue with a new message and a fresh attempt count; returns the ids retried.
RETRY = PRELUDE + """
local retried = {}
for id, route in pairs(cjson.decode(ARGV[2])) do
  local key = task_key(id)
  local f = redis.call('HMGET', key, 'status', 'channel', 'priority', 'customer_id',
                       'created_at')
  if f[1] == 'failed' then
    redis.call('HDEL', key, 'error_code', 'error_message', 'finished_at', 'started_at',
               'expires_at')
    redis.call('HSET', key, 'status', 'queued', 'attempts', 0)
    redis.call('HINCRBY', key, 'retries', 1)
    redis.call('EXPIRE', key, TTL)
    hold_customer_index(f[4], f[5])
    redis.call('ZREM', cfg.dead, id)
    redis.call('ZADD', waiting_key(f[2], f[3]), now, id)
    enqueue(route[1], route[2], f[2], f[3])
    emit(key, id, 'queued', {retried = true})
    retried[#retried + 1] = id
  end
end
return retried
"""

# ARGV[2] id. Cancels a task still waiting: its message, when a worker takes it, finds the
# task not runnable. Returns 1 when this call cancelled it, else the status that prevented it.
CANCEL = PRELUDE + """
local id = ARGV[2]
local key = task_key(id)
local f = redis.call('HMGET', key, 'status', 'channel', 'priority', 'customer_id',
                     'created_at')
if f[1] ~= 'queued' then return f[1] or 'missing' end
redis.call('HSET', key, 'status', 'cancelled', 'finished_at', now_s)
redis.call('EXPIRE', key, TTL)
hold_customer_index(f[4], f[5])
redis.call('ZREM', waiting_key(f[2], f[3]), id)
count(f[2], {cancelled = 1})
emit(key, id, 'cancelled')
write_tally()
return 1
"""

# ARGV[2] a JSON list of [list key, message, channel, priority]. Enqueues messages a worker
# received for a priority paused since they left their queue: they go to the parked list.
PARK = PRELUDE + """
for _, m in ipairs(cjson.decode(ARGV[2])) do enqueue(m[1], m[2], m[3], m[4]) end
return 1
"""

# ARGV[2] a priority, ARGV[3] a JSON object {channel: that priority's list key}. Pauses the
# priority: its messages waiting in each channel's queue move, in order, to parked lists.
PAUSE = PRELUDE + """
redis.call('SADD', cfg.paused_priorities, ARGV[2])
local moved = 0
for channel, list_key in pairs(cjson.decode(ARGV[3])) do
  local parked = string.format(cfg.parked, channel, ARGV[2])
  -- kombu pushes on the left and pops on the right: moving right to left keeps the order.
  while redis.call('RPOPLPUSH', list_key, parked) do moved = moved + 1 end
end
return moved
"""

# ARGV as for PAUSE. Resumes the priority: parked messages go back, ahead of any message
# that reached the queue meanwhile (they are older), oldest first served.
RESUME = PRELUDE + """
redis.call('SREM', cfg.paused_priorities, ARGV[2])
local moved = 0
for channel, list_key in pairs(cjson.decode(ARGV[3])) do
  local parked = string.format(cfg.parked, channel, ARGV[2])
  local messages = redis.call('LRANGE', parked, 0, -1)  -- newest first
  for i = 1, #messages, 1000 do
    redis.call('RPUSH', list_key, unpack(messages, i, math.min(i + 999, #messages)))
  end
  redis.call('DEL', parked)
  moved = moved + #messages
end
return moved
"""
