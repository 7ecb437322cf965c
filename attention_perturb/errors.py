"""Errors in what a user typed or pointed at (the commands print them as one line)."""


class UsageError(ValueError):
    """A flag, file or key the user gave cannot be used; the message names it (`--seeds: ...`,
    `grid.json: unknown keys ...`). The package's commands print it as one line `error: ...`."""
