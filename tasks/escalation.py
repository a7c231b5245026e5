"""Escalation rules: when a completed message needs a person, and the settings they read.

The rules run inside the registry's COMPLETE script (``registry_scripts.ESCALATION``), where
the task's channel, priority and customer and the customer's recent history are at hand in
the same atomic step: no extra round trip, and two messages of one customer completing at
once still see each other. This module holds what they are configured with, and the one
choice of which score they read.

- ``strongly_negative_priority``: rule score at or below ``negative_threshold`` on a message
  whose priority is in ``priorities``.
- ``strongly_negative_channel``: the same on a channel in ``channels`` (any priority).
- ``customer_worsening``: the customer's last ``worsening_messages`` messages (this one
  included, completed within ``worsening_window_seconds``) each scored strictly lower than
  the one before, and this one scored at most ``worsening_max_compound``.
"""
from collections.abc import Mapping
from dataclasses import dataclass

import settings
from tasks.queues import CHANNELS, PRIORITIES

RULES = ("strongly_negative_priority", "strongly_negative_channel", "customer_worsening")


def rule_score(result: Mapping) -> float | None:
    """The score every rule and the customer history read: the result's document score.

    That is VADER's compound of the whole text, except for a long text, where one angry
    paragraph among pleasantries must still count: there the sentences' weighted mean. None
    for a text VADER cannot judge (``unknown``: German "die" is -0.29 in its lexicon), which
    then never escalates and stays out of the history.
    """
    if result.get("sentiment") == "unknown":
        return None
    return result.get("document_score")


@dataclass(frozen=True)
class EscalationRules:
    negative_threshold: float
    priorities: tuple[str, ...]
    channels: tuple[str, ...]
    worsening_messages: int
    worsening_max_compound: float
    worsening_window_seconds: float
    history_size: int
    history_ttl_seconds: int

    def __post_init__(self):
        unknown = (set(self.priorities) - set(PRIORITIES)) | (set(self.channels) - set(CHANNELS))
        if unknown:
            raise ValueError(f"unknown escalation priorities or channels: {sorted(unknown)}")
        if self.worsening_messages == 1 or self.worsening_messages < 0:
            raise ValueError("ESCALATION_WORSENING_MESSAGES must be 0 (off) or at least 2")
        if self.history_size and self.history_size < self.worsening_messages:
            raise ValueError("CUSTOMER_HISTORY_SIZE must be 0 or at least "
                             "ESCALATION_WORSENING_MESSAGES")

    @classmethod
    def from_settings(cls, config: Mapping) -> "EscalationRules":
        """The rules configured by ``settings.load()`` or a Flask config."""
        return cls(config["ESCALATION_NEGATIVE_THRESHOLD"], tuple(config["ESCALATION_PRIORITIES"]),
                   tuple(config["ESCALATION_CHANNELS"]), config["ESCALATION_WORSENING_MESSAGES"],
                   config["ESCALATION_WORSENING_MAX_COMPOUND"],
                   config["ESCALATION_WORSENING_WINDOW_SECONDS"], config["CUSTOMER_HISTORY_SIZE"],
                   config["CUSTOMER_HISTORY_TTL_SECONDS"])

    @classmethod
    def defaults(cls) -> "EscalationRules":
        """The rules with every setting at its default."""
        return cls.from_settings(settings.load({}))

    @property
    def worsening_enabled(self) -> bool:
        return self.history_size > 0 and self.worsening_messages >= 2

    def config(self) -> dict:
        """What the Lua rules read (sets as tables of true, which Lua tests in one step)."""
        return {
            "negative_threshold": self.negative_threshold,
            "priorities": dict.fromkeys(self.priorities, True),
            "channels": dict.fromkeys(self.channels, True),
            "worsening_messages": self.worsening_messages if self.worsening_enabled else 0,
            "worsening_max_compound": self.worsening_max_compound,
            "worsening_window": self.worsening_window_seconds,
            "history_size": self.history_size,
            "history_ttl": self.history_ttl_seconds,
        }
