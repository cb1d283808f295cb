"""Sources: the systems Caravan ingests, and how their records reach the raw zone."""
