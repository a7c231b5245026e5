"""Listing tasks (``GET /tasks``): newest first, filtered, paged by an opaque cursor.

A query walks one ordered source, newest first, in one Lua script run per page:

- ``customer_id`` given: that customer's index (``keys.CUSTOMER_TASKS``), by accept time;
- else ``status`` ``queued``, ``processing`` or ``failed``: the registry's own set for that
  state (the waiting sets of the channels and priorities asked for, the processing set, the
  dead-letter set), by the time the task entered it;
- else the index of every task (``keys.TASK_INDEX``), by accept time.

The script reads each id's hash and keeps those matching the other filters, until it has
``limit`` of them or has read ``budget`` ids; a cursor (score and id of the last id read)
continues from there. Inserts land before the cursor (they are newer), so paging neither
repeats nor skips a task that stays in its source.
"""
import base64
import binascii
import json
import math
import re
from dataclasses import dataclass

import redis

from tasks import keys
from tasks.queues import CHANNELS, PRIORITIES

CHUNK = 200  # ids read from each source per step of the walk
PREVIEW_BYTES_PER_CHAR = 4  # UTF-8: the script cuts bytes, at a character boundary
SCORE = re.compile(r"-?\d+(\.\d+)?(e[-+]?\d+)?")  # a sorted-set score as Redis writes it

BY_CREATED, CUSTOMER, QUEUED, PROCESSING, FAILED = (
    "created", "customer", "queued", "processing", "failed")

SEARCH = """
local q = cjson.decode(ARGV[1])
local null = cjson.null
local lowest = q.since == null and -math.huge or q.since

-- a comes before b in the listing: later score, then the larger id (Redis's own order).
local function newer(a, b)
  if a.num ~= b.num then return a.num > b.num end
  return a.id > b.id
end

-- Up to n entries of a source after the cursor (from the top without one), newest first.
local function fetch(key, after, n)
  local rows
  if after == nil then
    rows = redis.call('ZREVRANGEBYSCORE', key, q.max, q.min, 'WITHSCORES', 'LIMIT', 0, n)
  else
    local own = redis.call('ZSCORE', key, after.id)
    if own and tonumber(own) == after.num then
      local rank = redis.call('ZREVRANK', key, after.id)
      rows = redis.call('ZREVRANGE', key, rank + 1, rank + n, 'WITHSCORES')
    else  -- the cursor's id left this source: skip the ties at its score up to its id
      local skip = 0
      for _, id in ipairs(redis.call('ZREVRANGEBYSCORE', key, after.score, after.score)) do
        if id >= after.id then skip = skip + 1 end
      end
      rows = redis.call('ZREVRANGEBYSCORE', key, after.score, q.min, 'WITHSCORES',
                        'LIMIT', skip, n)
    end
  end
  local out = {}
  for j = 1, #rows, 2 do
    local num = tonumber(rows[j + 1])
    if num < lowest then break end
    out[#out + 1] = {id = rows[j], score = rows[j + 1], num = num}
  end
  return out
end

local function prefix(text, bytes)
  if #text <= bytes then return text end
  local cut = bytes
  while cut > 0 and text:byte(cut + 1) >= 0x80 and text:byte(cut + 1) < 0xC0 do
    cut = cut - 1
  end
  return text:sub(1, cut)
end

-- The summary of a task matching every filter, or nil.
local function match(id)
  local key = string.format(q.task, id)
  local f = redis.call('HMGET', key, 'status', 'channel', 'priority', 'owner', 'created_at',
                       'customer_id')
  if not f[1] then return nil end  -- erased, or expired
  if (q.status ~= null and f[1] ~= q.status) or (q.channel ~= null and f[2] ~= q.channel)
     or (q.priority ~= null and f[3] ~= q.priority) or (q.owner ~= null and f[4] ~= q.owner)
     or (q.customer_id ~= null and f[6] ~= q.customer_id) then
    return nil
  end
  local created = tonumber(f[5]) or 0
  if (q.created_min ~= null and created < q.created_min)
     or (q.created_max ~= null and created >= q.created_max) then
    return nil
  end
  local g = redis.call('HMGET', key, 'finished_at', 'result', 'error_code',
                       q.preview_bytes > 0 and 'text' or 'status')
  local sentiment = null
  if g[2] then
    local ok, result = pcall(cjson.decode, g[2])
    if ok and type(result) == 'table' and result.sentiment then sentiment = result.sentiment end
  end
  local preview = null
  if q.preview_bytes > 0 and g[4] then preview = prefix(g[4], q.preview_bytes) end
  return {id, f[1], f[2], f[3], f[6] or null, f[5] or null, g[1] or null, sentiment,
          g[3] or null, preview}
end

local found, scanned, more = {}, 0, true
local cursor = nil
if q.after ~= null then
  cursor = {score = q.after[1], id = q.after[2], num = tonumber(q.after[1])}
end
while true do
  local n = math.min(q.chunk, q.budget - scanned)
  local entries, horizon = {}, nil
  for _, key in ipairs(q.sources) do
    local got = fetch(key, cursor, n)
    for _, entry in ipairs(got) do entries[#entries + 1] = entry end
    -- A source that filled its chunk may hold more: nothing after its last entry is safe.
    if #got == n and (horizon == nil or newer(got[n], horizon)) then horizon = got[n] end
  end
  table.sort(entries, newer)
  local stop = false
  for i, entry in ipairs(entries) do
    if horizon ~= nil and newer(horizon, entry) then break end
    scanned = scanned + 1
    cursor = entry
    local row = match(entry.id)
    if row then found[#found + 1] = row end
    if #found == q.limit or scanned == q.budget then
      more = i < #entries or horizon ~= nil
      stop = true
      break
    end
  end
  if stop then break end
  if horizon == nil then
    more = false
    break
  end
end
local next_cursor = null
if more and cursor ~= nil then next_cursor = {cursor.score, cursor.id} end
return cjson.encode({tasks = found, next = next_cursor, scanned = scanned})
"""

SUMMARY_FIELDS = ("task_id", "status", "channel", "priority", "customer_id", "created_at",
                  "finished_at", "sentiment", "error_code", "text_preview")


@dataclass(frozen=True)
class Cursor:
    """Where a page ended: the source walked, and the score and id of the last id read."""

    source: str
    score: str
    task_id: str

    def encode(self) -> str:
        raw = json.dumps([self.source, self.score, self.task_id], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> "Cursor":
        """The cursor ``encode`` wrote; ``ValueError`` for anything else."""
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            source, score, task_id = json.loads(raw)
        except (binascii.Error, UnicodeDecodeError, TypeError, ValueError) as exc:
            raise ValueError("not a cursor of this API") from exc
        # The score goes to Redis as a range bound: only a finite number it can parse.
        if not (isinstance(source, str) and isinstance(task_id, str)
                and isinstance(score, str) and SCORE.fullmatch(score)
                and math.isfinite(float(score))):
            raise ValueError("not a cursor of this API")
        return cls(source, score, task_id)


@dataclass(frozen=True)
class TaskQuery:
    """The filters of one page; ``None`` means any. Times in seconds since the epoch."""

    status: str | None = None
    channel: str | None = None
    priority: str | None = None
    customer_id: str | None = None
    owner: str | None = None  # a channel token's id: only its own tasks
    since: float | None = None  # accepted at or after
    until: float | None = None  # accepted before
    limit: int = 50
    cursor: Cursor | None = None
    preview_chars: int = 0  # 0: no text_preview


@dataclass(frozen=True)
class Page:
    tasks: list[dict]  # raw registry values, keyed by SUMMARY_FIELDS
    next: Cursor | None
    scanned: int  # ids read to build the page


def source_of(query: TaskQuery) -> tuple[str, list[str]]:
    """The source a query walks and its sorted-set keys (see the module's docstring)."""
    if query.customer_id is not None:
        return CUSTOMER, [keys.customer_tasks(query.customer_id)]
    if query.status == QUEUED:
        return QUEUED, [keys.queued(channel, priority)
                        for channel in ([query.channel] if query.channel else CHANNELS)
                        for priority in ([query.priority] if query.priority else PRIORITIES)]
    if query.status == PROCESSING:
        return PROCESSING, [keys.PROCESSING]
    if query.status == FAILED:
        return FAILED, [keys.DEAD]
    return BY_CREATED, [keys.TASK_INDEX]


class TaskSearch:
    """Pages of tasks, each one script run reading at most ``budget`` ids."""

    def __init__(self, client: redis.Redis, budget: int, chunk: int = CHUNK):
        self.budget = budget
        self.chunk = chunk
        self._search = client.register_script(SEARCH)

    def search(self, query: TaskQuery) -> Page:
        """One page; ``ValueError`` when the cursor comes from a query on another source."""
        source, sources = source_of(query)
        if query.cursor is not None and query.cursor.source != source:
            raise ValueError("the cursor belongs to a query with other filters")
        by_created = source in (BY_CREATED, CUSTOMER)
        since = query.since
        # Scores of the by-state sources are no earlier than acceptance, so `since` still
        # bounds them; `until` is checked on each task.
        script_query = {
            "task": keys.TASK, "sources": sources,
            "max": f"({query.until!r}" if by_created and query.until is not None else "+inf",
            "min": repr(since) if since is not None else "-inf",
            "since": since,  # None is JSON null, the script's cjson.null
            "created_min": None if by_created else since,
            "created_max": None if by_created else query.until,
            "after": None if query.cursor is None else [query.cursor.score,
                                                        query.cursor.task_id],
            "status": query.status, "channel": query.channel, "priority": query.priority,
            "customer_id": query.customer_id, "owner": query.owner,
            "limit": query.limit, "budget": self.budget, "chunk": self.chunk,
            "preview_bytes": query.preview_chars * PREVIEW_BYTES_PER_CHAR,
        }
        reply = json.loads(self._search(args=[json.dumps(script_query)]))
        rows = [dict(zip(SUMMARY_FIELDS, row, strict=True)) for row in reply["tasks"] or []]
        for row in rows:
            if row["text_preview"] is not None:
                row["text_preview"] = row["text_preview"][:query.preview_chars]
        after = reply["next"]
        return Page(rows, Cursor(source, *after) if after else None, reply["scanned"])
