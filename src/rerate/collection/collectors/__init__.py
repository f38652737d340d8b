"""One collector per platform, each `collect(ctx, start, end) -> Iterator[Batch]`."""
