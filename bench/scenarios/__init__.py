"""One module per scenario of issue 5; each ``run`` takes the ``Context`` and returns a dict."""
