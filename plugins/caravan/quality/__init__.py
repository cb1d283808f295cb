"""Quality gates: Great Expectations checks that decide whether a partition is published."""
