"""The texts every scenario uses: the VADER paper's tweets, or a small built-in list."""
import os
from dataclasses import dataclass
from pathlib import Path

from bench import ROOT

DEFAULT_DIR = ROOT.parent / "shared" / "data" / "vader-icwsm2014"
TWEETS = "tweets_GroundTruth.txt"
MAX_TEXT_CHARS = 20_000

BUILT_IN = (
    "Great customer service experience!",
    "The agent was rude and did not solve my problem.",
    "My order arrived on time, thanks.",
    "I have been waiting for two weeks and nobody answers my emails. Terrible.",
    "Not bad, but the app keeps crashing when I pay.",
    "Thank you so much for the quick refund, you made my day :)",
    "Why is my bill twice as high as last month?",
    "The delivery was late again. Very disappointed.",
    "Can you tell me where my parcel is?",
    "Excellent support, the problem was fixed in minutes!",
    "I am not happy with the new pricing at all.",
    "The technician was friendly and very helpful.",
    "Worst experience ever, I want to cancel my subscription.",
    "It works now, thanks for your patience.",
    "The website is confusing and slow.",
    "Love the new features, keep it up!",
)


@dataclass(frozen=True)
class Texts:
    texts: tuple[str, ...]
    source: str  # what the report says about where they came from


def load() -> Texts:
    """The tweets of the ICWSM 2014 data set, or the built-in sentences when it is absent."""
    directory = Path(os.environ.get("VADER_DATA_DIR", DEFAULT_DIR))
    path = directory / TWEETS
    if not path.exists():
        return Texts(BUILT_IN, f"built-in list of {len(BUILT_IN)} sentences: VADER data not "
                               f"found at {path} (set VADER_DATA_DIR)")
    texts = []
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 3 and parts[2].strip() and len(parts[2]) <= MAX_TEXT_CHARS:
                texts.append(parts[2])
    return Texts(tuple(texts), f"{path.name} of the VADER ICWSM 2014 data ({len(texts):,} "
                               f"tweets, mean {sum(map(len, texts)) / len(texts):.0f} chars)")
