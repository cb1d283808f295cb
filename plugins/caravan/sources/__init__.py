"""Sources: the systems Caravan ingests, and how their records reach the raw zone."""


class SourceError(RuntimeError):
    """A source refused or failed a request; the message names the source and what was asked."""
