"""rerate: a billing engine whose heart is recalculation."""

__version__ = "0.1.0"
