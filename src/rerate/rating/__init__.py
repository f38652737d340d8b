"""The pure rating engine (docs/rating.md).

Entry point: `rerate.rating.engine.rate(usage, plan, period) -> RatingResult`;
the plan snapshot is `rerate.rating.plan.RatingPlan`; `rerate.rating.output.
write_run` persists a result; `rerate.rating.formats` loads plan files for the
CLI. Nothing in this package imports SQLAlchemy, reads a clock or touches a
database.
"""
