"""Python client of the sentiment platform's API, and the ``sentiment`` command."""
from sentiment_client.client import DEFAULT_URL, FINISHED, Client
from sentiment_client.errors import APIError, WaitTimeout
from sentiment_client.feed import UpdateFeed

__all__ = ["DEFAULT_URL", "FINISHED", "APIError", "Client", "UpdateFeed", "WaitTimeout"]
