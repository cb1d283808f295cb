"""Quality gates: Great Expectations checks that decide whether a partition is published."""

import logging

# GX logs its own plumbing at INFO on import and on every context; task logs should show
# the gate's outcome, not that. A level set by the user wins. Here, before any module of
# the package imports GX.
_gx_logger = logging.getLogger("great_expectations")
if _gx_logger.level == logging.NOTSET:
    _gx_logger.setLevel(logging.WARNING)
