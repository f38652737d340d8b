"""Usage collection per region: configured sources, platform collectors, jobs."""
