"""What every scenario gets: the plan, the texts, the Redis, the stacks and the load generator."""
import time
from dataclasses import dataclass
from pathlib import Path

import redis

from bench import cpu
from bench.data import Texts
from bench.plan import Plan
from bench.processes import ProcessSet
from bench.stacks import PeerStack, ProjectStack

CHANNELS = ("chat", "voice", "email")


class Skipped(Exception):
    """A scenario that cannot run here; its message is the reason the report gives."""


@dataclass
class Context:
    plan: Plan
    texts: Texts
    work_dir: Path
    processes: ProcessSet
    redis_port: int
    admin: redis.Redis  # database-independent questions: INFO, MEMORY USAGE
    wrk: str | None = None
    wrk_note: str = ""
    project: ProjectStack | None = None
    peer: PeerStack | None = None

    def stacks(self) -> list:
        return [stack for stack in (self.project, self.peer) if stack is not None]

    def bodies(self, stack, count: int, channel: str | None = None,
               priority: str = "normal") -> list[dict]:
        """``count`` submissions cycling through the texts (and channels, unless given)."""
        texts = self.texts.texts
        return [stack.submission(texts[i % len(texts)], channel or CHANNELS[i % len(CHANNELS)],
                                 priority) for i in range(count)]

    def redis_counters(self) -> dict[str, int]:
        """Redis's counts of forks (AOF rewrites) and of fsyncs that fell behind."""
        return {"forks": int(self.admin.info("stats").get("total_forks", 0)),
                "aof_delayed_fsync": int(self.admin.info("persistence")
                                         .get("aof_delayed_fsync", 0))}

    def cpu(self, stack) -> dict[str, float]:
        """CPU seconds so far of ``stack``'s processes and Redis (``bench.cpu``)."""
        return cpu.snapshot(stack, int(self.admin.info("server")["process_id"]))

    def used_memory(self) -> int:
        """Redis's ``used_memory``, read when no AOF rewrite holds a buffer of its own."""
        for _ in range(100):  # at most 10 s
            if not int(self.admin.info("persistence").get("aof_rewrite_in_progress", 0)):
                break
            time.sleep(0.1)
        return int(self.admin.info("memory")["used_memory"])
