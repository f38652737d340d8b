"""Operations: `rerate check [--repair]`, the invariants between the database
and the data directory (docs/operations.md)."""
