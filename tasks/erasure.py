"""Erasing a customer (``DELETE /customers/{id}``): its tasks, their traces, its history.

The customer's index (``keys.CUSTOMER_TASKS``) names every task of that customer still
stored (the accept and state-change scripts keep it alive as long as any of them). Each
script run erases one chunk of them atomically: the task hash (text, result), its place in
the indexes and in the waiting, processing and dead-letter sets, its idempotency key and
the log of its callback deliveries.
Celery messages name task ids only; a worker that takes the message of an erased task finds
it missing and does nothing. Then the customer's history and the events of the stream that
name the customer go too.
"""
import json
from dataclasses import dataclass, field

import redis

from tasks import keys

TASK_CHUNK = 500  # tasks erased per script run
EVENT_CHUNK = 2000  # stream entries read per script run
MAX_TASK_CHUNKS = 100_000  # a bound, should a customer submit as fast as we erase

ERASE_TASKS = """
local cfg = cjson.decode(ARGV[1])
local customer = ARGV[2]
local index = string.format(cfg.customer_tasks, customer)
local ids = redis.call('ZRANGE', index, 0, tonumber(ARGV[3]) - 1)
local by_status, keys_removed = {}, 0
for _, id in ipairs(ids) do
  local key = string.format(cfg.task, id)
  local f = redis.call('HMGET', key, 'status', 'channel', 'priority', 'customer_id',
                       'idempotency_key')
  if f[1] and f[4] == customer then
    redis.call('ZREM', string.format(cfg.queued, f[2], f[3]), id)
    redis.call('ZREM', cfg.processing, id)
    redis.call('ZREM', cfg.dead, id)
    if f[5] and redis.call('GET', f[5]) == id then
      redis.call('DEL', f[5])
      keys_removed = keys_removed + 1
    end
    redis.call('DEL', key, string.format(cfg.task_deliveries, id))
    by_status[f[1]] = (by_status[f[1]] or 0) + 1
  end
  redis.call('ZREM', cfg.task_index, id)
end
if #ids > 0 then redis.call('ZREM', index, unpack(ids)) end
return {cjson.encode(by_status), keys_removed, #ids}
"""

# ARGV: stream, customer id, the id to read after ('-' from the start), count, and a needle
# ('' for none): the customer id as JSON writes it, so most events are skipped undecoded.
ERASE_EVENTS = """
local customer = ARGV[2]
local start = ARGV[3] == '-' and '-' or '(' .. ARGV[3]
local entries = redis.call('XRANGE', ARGV[1], start, '+', 'COUNT', tonumber(ARGV[4]))
local removed = 0
for _, entry in ipairs(entries) do
  local fields = entry[2]
  for i = 2, #fields, 2 do
    local body = fields[i]
    if ARGV[5] == '' or string.find(body, ARGV[5], 1, true) then
      local ok, event = pcall(cjson.decode, body)
      if ok and type(event) == 'table' and event.customer_id == customer then
        removed = removed + redis.call('XDEL', ARGV[1], entry[1])
        break
      end
    end
  end
end
local last = #entries > 0 and entries[#entries][1] or ''
return {removed, last}
"""


@dataclass
class Erased:
    """What an erasure removed."""

    tasks_by_status: dict[str, int] = field(default_factory=dict)
    idempotency_keys: int = 0
    history: int = 0
    events: int = 0

    @property
    def tasks(self) -> int:
        return sum(self.tasks_by_status.values())


def json_needle(customer_id: str) -> str:
    """The customer id as both cjson and json.dumps write it, or '' when they may differ."""
    plain = all(0x20 <= ord(c) < 0x7F and c not in '"\\/' for c in customer_id)
    return json.dumps(customer_id) if plain else ""


class Eraser:
    """Erases customers' data; each step is a script run over a bounded chunk."""

    def __init__(self, client: redis.Redis):
        self.client = client
        self._config = json.dumps({
            "task": keys.TASK, "queued": keys.QUEUED, "processing": keys.PROCESSING,
            "dead": keys.DEAD, "task_index": keys.TASK_INDEX,
            "customer_tasks": keys.CUSTOMER_TASKS, "task_deliveries": keys.TASK_DELIVERIES})
        self._erase_tasks = client.register_script(ERASE_TASKS)
        self._erase_events = client.register_script(ERASE_EVENTS)

    def erase(self, customer_id: str) -> Erased:
        """Remove every stored trace of ``customer_id``; see the module's docstring."""
        erased = Erased()
        for _ in range(MAX_TASK_CHUNKS):
            by_status, idempotency_keys, read = self._erase_tasks(
                args=[self._config, customer_id, TASK_CHUNK])
            # cjson writes an empty table as {}; a status map either way
            for status, count in (json.loads(by_status) or {}).items():
                erased.tasks_by_status[status] = erased.tasks_by_status.get(status, 0) + count
            erased.idempotency_keys += idempotency_keys
            if read < TASK_CHUNK:
                break
        erased.history = self.client.delete(keys.customer_history(customer_id))
        erased.events = self.erase_events(customer_id)
        return erased

    def erase_events(self, customer_id: str) -> int:
        """Delete the task events naming the customer from the event stream."""
        needle, after, removed = json_needle(customer_id), "-", 0
        while True:
            count, last = self._erase_events(args=[keys.EVENTS, customer_id, after,
                                                   EVENT_CHUNK, needle])
            removed += count
            if not last:
                return removed
            after = last
