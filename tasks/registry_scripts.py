"""Lua scripts behind the task registry: each state change is one atomic round trip.

Every script gets the same first argument, a JSON object with the key templates and limits
(``TaskRegistry._config``), so key names still come only from ``tasks.keys``. Times come from
Redis's own clock, so API hosts and workers with drifting clocks still agree.
"""

# Shared by every script: config, clock, the event stream and the metrics buckets.
PRELUDE = """
local cfg = cjson.decode(ARGV[1])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local now_s = string.format('%.6f', now)

local function task_key(id) return string.format(cfg.task, id) end

local function emit(key, id, status, extra)
  local f = redis.call('HMGET', key, 'channel', 'priority', 'customer_id')
  local event = {task_id = id, status = status, channel = f[1], priority = f[2],
                 customer_id = f[3] or cjson.null, at = now}
  for k, v in pairs(extra or {}) do event[k] = v end
  redis.call('XADD', cfg.events, 'MAXLEN', '~', cfg.maxlen, '*', 'event', cjson.encode(event))
end

local function count(channel, increments)
  local key = string.format(cfg.metrics, math.floor(now / cfg.bucket_seconds))
  for field, n in pairs(increments) do
    redis.call('HINCRBYFLOAT', key, field, n)
    redis.call('HINCRBYFLOAT', key, field .. ':' .. channel, n)
  end
  redis.call('EXPIRE', key, cfg.metrics_ttl)
end

-- Same rule as tasks.metrics.bin_index.
local function latency_bin(ms)
  if ms <= cfg.bin_base then return 'latency_bin:0' end
  local index = math.ceil(math.log(ms / cfg.bin_base) / math.log(cfg.bin_growth))
  return 'latency_bin:' .. math.min(index, cfg.bin_count - 1)
end

-- A failed task also enters the dead-letter set, from which operators list and retry.
local function fail(key, id, code, message)
  local f = redis.call('HMGET', key, 'channel', 'priority')
  redis.call('ZREM', string.format(cfg.queued, f[2]), id)
  redis.call('ZREM', cfg.processing, id)
  redis.call('HSET', key, 'status', 'failed', 'error_code', code, 'error_message', message,
             'finished_at', now_s)
  redis.call('EXPIRE', key, cfg.ttl)
  redis.call('ZADD', cfg.dead, now, id)
  count(f[1], {failed = 1, ['failed_' .. code] = 1})
  emit(key, id, 'failed', {error = {code = code, message = message}})
end
"""

# ARGV[2] a JSON object: id, priority, ahead (the priorities served no later than this one),
# timeout (seconds or null), fields (the task's own), queue_key and message (the Celery
# message and its list), idempotency_key (or null), capacity (0: none). Stores the task and
# enqueues its message in one step. Returns {'accepted', position, completed, service_ms,
# covered}, {'duplicate', earlier task id} or {'full', tasks waiting}.
ACCEPT = PRELUDE + """
local task = cjson.decode(ARGV[2])
if task.idempotency_key ~= cjson.null then
  local earlier = redis.call('GET', task.idempotency_key)
  if earlier then return {'duplicate', earlier} end
end
if task.capacity > 0 then
  local waiting = 0
  for _, p in ipairs(cfg.priorities) do
    waiting = waiting + redis.call('ZCARD', string.format(cfg.queued, p))
  end
  if waiting >= task.capacity then return {'full', waiting} end
end

local key = task_key(task.id)
local pairs_ = {'status', 'queued', 'priority', task.priority, 'created_at', now_s,
                'attempts', 0}
for field, value in pairs(task.fields) do
  pairs_[#pairs_ + 1] = field
  pairs_[#pairs_ + 1] = tostring(value)
end
if task.timeout ~= cjson.null then
  pairs_[#pairs_ + 1] = 'expires_at'
  pairs_[#pairs_ + 1] = string.format('%.6f', now + task.timeout)
end
redis.call('HSET', key, unpack(pairs_))
redis.call('EXPIRE', key, cfg.ttl)
redis.call('ZADD', string.format(cfg.queued, task.priority), now, task.id)
redis.call('LPUSH', task.queue_key, task.message)
if task.idempotency_key ~= cjson.null then
  redis.call('SET', task.idempotency_key, task.id, 'EX', cfg.idempotency_ttl)
end
emit(key, task.id, 'queued')

local position = 0
for _, p in ipairs(task.ahead) do
  local queue = string.format(cfg.queued, p)
  if p == task.priority then
    position = position + redis.call('ZCOUNT', queue, '-inf', now)
  else
    position = position + redis.call('ZCARD', queue)
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
local covered = now - first * cfg.bucket_seconds
return {'accepted', position, tostring(completed), tostring(service_ms), tostring(covered)}
"""

# ARGV[2] the worker's name, ARGV[3..] task ids. Moves each queued (or redelivered, still
# processing) task to processing and returns its text; a task whose timeout has passed, or
# whose worker died during every allowed attempt, fails instead.
CLAIM = PRELUDE + """
local worker = ARGV[2]
local out = {}
for i = 3, #ARGV do
  local id = ARGV[i]
  local key = task_key(id)
  local f = redis.call('HMGET', key, 'status', 'text', 'expires_at', 'priority', 'attempts')
  local status = f[1]
  if not status then
    out[#out + 1] = {id, 'missing'}
  elseif status == 'queued' or status == 'processing' then
    redis.call('ZREM', string.format(cfg.queued, f[4]), id)
    if f[3] and tonumber(f[3]) < now then
      fail(key, id, 'TASK_EXPIRED', 'the task was not started before its timeout')
      out[#out + 1] = {id, 'expired'}
    elseif tonumber(f[5]) >= cfg.max_attempts then
      -- Every earlier attempt ended with its worker gone: a poison message must not loop.
      fail(key, id, 'TOO_MANY_ATTEMPTS',
           'the worker was lost during each of ' .. f[5] .. ' attempts')
      out[#out + 1] = {id, 'failed'}
    else
      redis.call('HSET', key, 'status', 'processing', 'started_at', now_s, 'worker', worker)
      local attempt = redis.call('HINCRBY', key, 'attempts', 1)
      redis.call('EXPIRE', key, cfg.ttl)
      redis.call('ZADD', cfg.processing, now, id)
      emit(key, id, 'processing', {attempt = attempt, worker = worker})
      out[#out + 1] = {id, 'claimed', f[2]}
    end
  else
    out[#out + 1] = {id, status}
  end
end
return out
"""

# ARGV[2] id, ARGV[3] result JSON. Only a processing task completes, so a redelivered
# message never counts twice. Returns 1 when this call completed the task.
COMPLETE = PRELUDE + """
local id = ARGV[2]
local key = task_key(id)
local f = redis.call('HMGET', key, 'status', 'created_at', 'started_at', 'channel')
if f[1] ~= 'processing' then return 0 end
redis.call('HSET', key, 'status', 'completed', 'result', ARGV[3], 'finished_at', now_s)
redis.call('EXPIRE', key, cfg.ttl)
redis.call('ZREM', cfg.processing, id)
local result = cjson.decode(ARGV[3])
local latency_ms = (now - tonumber(f[2])) * 1000
count(f[4], {completed = 1, ['sentiment_' .. result.sentiment] = 1, latency_ms = latency_ms,
             [latency_bin(latency_ms)] = 1, service_ms = (now - tonumber(f[3])) * 1000})
emit(key, id, 'completed', {result = result})
return 1
"""

# ARGV[2] id, ARGV[3] error code, ARGV[4] message. Returns 1 when this call failed the task.
FAIL = PRELUDE + """
local id = ARGV[2]
local key = task_key(id)
local status = redis.call('HGET', key, 'status')
if status ~= 'processing' and status ~= 'queued' then return 0 end
fail(key, id, ARGV[3], ARGV[4])
return 1
"""

# ARGV[2] cutoff (seconds since the epoch), ARGV[3] a JSON object {task id: [list key,
# message]}. Puts back in its queue each task still processing since before the cutoff: its
# worker died or lost Redis, and its own message may sit unacknowledged for the whole
# visibility timeout. Returns the ids requeued.
REQUEUE = PRELUDE + """
local cutoff = tonumber(ARGV[2])
local requeued = {}
for id, route in pairs(cjson.decode(ARGV[3])) do
  local key = task_key(id)
  local f = redis.call('HMGET', key, 'status', 'started_at', 'priority')
  if f[1] == 'processing' and tonumber(f[2]) < cutoff then
    redis.call('HSET', key, 'status', 'queued')
    redis.call('ZREM', cfg.processing, id)
    redis.call('ZADD', string.format(cfg.queued, f[3]), now, id)
    redis.call('LPUSH', route[1], route[2])
    emit(key, id, 'queued', {requeued = true})
    requeued[#requeued + 1] = id
  elseif f[1] ~= 'processing' then
    redis.call('ZREM', cfg.processing, id)
  end
end
return requeued
"""
