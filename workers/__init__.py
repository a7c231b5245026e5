"""Worker management: the `make run` stack under supervisor, and what runs inside workers."""
