"""Generated input against `/openapi.json`: no 5xx, and every answer as declared.

The test form of `schemathesis run` (issue 11 §6: 1,133 server errors once):
schemathesis reads the schema from the ASGI app and sends, for every
operation, its examples, its coverage cases (boundaries, missing and
wrong-typed values, huge numbers, odd strings) and random valid and invalid
data, in-process, over a billable world (tests.world, tests.billing.fixtures,
one published run and one invoice), on both databases, once with a platform
admin's API key and once with a reseller's (partner admin). About half the
ids and periods sent are real ones, so that the cases also get past the 404s.
Every answer must not be a server error and must use a declared status code,
content type and schema (the error envelope included).

The budget is bounded for CI (a fixed seed, `EXAMPLES` random cases per
operation and phase, no stateful phase: about 20 s a run);
`RERATE_SCHEMATHESIS_EXAMPLES` raises it for a longer local run, and
`schemathesis run http://127.0.0.1:8000/openapi.json -H "Authorization: Bearer ..."`
does the same against a live server.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import schemathesis.engine
from schemathesis.engine import events
from sqlalchemy import select

from rerate.app import create_app
from rerate.auth import service as auth
from rerate.billing import utilities
from rerate.billing.tasks import handlers
from rerate.invoicing.generate import generate_for
from rerate.jobs.worker import Worker
from rerate.kit.db import Database
from rerate.kit.settings import Settings
from rerate.models import Job, Node
from rerate.models.enums import JobType, NodeKind, ReasonCode
from tests.billing.fixtures import build_billing
from tests.world import World, build_world

EXAMPLES = int(os.environ.get("RERATE_SCHEMATHESIS_EXAMPLES", "8"))
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
)
OTHER_CHECKS = (
    "response_headers_conformance",
    "positive_data_acceptance",
    "negative_data_rejection",
    "use_after_free",
    "ensure_resource_availability",
    "missing_required_header",
    "ignored_auth",
    "object_level_authorization",
    "unsupported_method",
    "allow_header_conformance",
)
CALLERS = ["platform_admin", "partner_admin"]  # an admin, and a reseller (partner admin)

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Seeded:
    world: World
    ids: dict[str, list[int]]  # real ids by kind, for the fuzzer to pick from now and then


@pytest.fixture
def seeded(database: Database, data_dir: Path) -> Seeded:
    return seed(database, data_dir)


def seed(database: Database, data_dir: Path) -> Seeded:
    """tests.world plus a billable world, one published run and one invoice."""
    with database.session() as session:
        world = build_world(session)
    billing = build_billing(database, data_dir, world)
    with database.session() as s:
        customer = s.get(Node, world.nodes["cust_a1x"].id)
        assert customer is not None
        admin = auth.authenticate_api_key(s, world.keys["platform_admin"])[0]
        utilities.submit(
            s, admin, JobType.RECALCULATION, customer_id=customer.id, periods=["2026-08"],
            reason=ReasonCode.OTHER, explanation="seed",
        )  # fmt: skip
    worker = Worker(database, handlers=handlers(data_dir), lease_s=30, expand=None)
    while worker.run_once():
        pass
    with database.session() as s:
        customer = s.get(Node, world.nodes["cust_a1x"].id)
        assert customer is not None
        invoice = generate_for(s, customer, "2026-08").invoice.id
        jobs = list(s.scalars(select(Job.id)))
    customers = [n.id for n in world.nodes.values() if n.kind == NodeKind.CUSTOMER.value]
    return Seeded(
        world,
        {
            "customer": customers,
            "node": [n.id for n in world.nodes.values()],
            "account": list(billing.accounts.values()),
            "invoice": [invoice],
            "job": jobs,
        },
    )


def _config(seeded: Seeded, caller: str) -> schemathesis.Config:
    # Half of the ids sent are real ones, so that the fuzzer also gets past
    # the 404s into the operations themselves.
    pick = {"dictionary": "", "probability": 0.5}
    parameters = {
        f"{where}{name}_id": pick | {"dictionary": kind}
        for kind in seeded.ids
        for name in ([kind, "owner_customer"] if kind == "customer" else [kind])
        for where in ("", "body.")
    }
    parameters |= {
        "period": pick | {"dictionary": "period"},
        "body.period": pick | {"dictionary": "period"},
    }
    return schemathesis.Config.from_dict(
        {
            "seed": 11,  # the same cases on every run: a failure here is reproducible
            "workers": 1,
            "headers": {"Authorization": f"Bearer {seeded.world.keys[caller]}"},
            "dictionaries": {
                "period": {"values": ["2026-08", "2026-09"]},
                **{kind: {"values": ids} for kind, ids in seeded.ids.items()},
            },
            "parameters": parameters,
            "generation": {"max-examples": EXAMPLES, "mode": "all", "database": "none"},
            # Not stateful (links), and no probing with methods the API does not
            # have (405s): the time goes to the operations' own inputs.
            "phases": {"stateful": {"enabled": False}, "coverage": {"unexpected-methods": []}},
            "checks": {
                **{name: {"enabled": True} for name in CHECKS},
                **{name: {"enabled": False} for name in OTHER_CHECKS},
            },
        }
    )


def _failures(schema: Any) -> tuple[list[str], int]:
    """Run the engine (examples, coverage and fuzzing phases); the failures
    as readable lines, and how many cases were sent."""
    found: list[str] = []
    cases = 0
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            cases += len(event.recorder.cases)
            for checks in event.recorder.checks.values():
                for check in checks:
                    if check.failure_info is not None:
                        failure = check.failure_info.failure
                        found.append(
                            f"{event.recorder.label}: {failure.title}: {failure.message}\n"
                            f"    {check.failure_info.code_sample}"
                        )
        elif isinstance(event, events.NonFatalError | events.FatalError):
            found.append(f"engine error: {event}")
    return found, cases


@pytest.mark.parametrize("caller", CALLERS)
def test_generated_input_gets_a_declared_answer_never_a_server_error(
    database: Database, data_dir: Path, seeded: Seeded, caller: str
) -> None:
    settings = Settings(data_dir=data_dir, database_url=database.url, env="test")
    app = create_app(settings, database)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=_config(seeded, caller))
    failures, cases = _failures(schema)
    unique = sorted(set(failures))
    assert not unique, f"{len(unique)} failures:\n" + "\n".join(unique[:40])
    operations = len(list(schema.get_all_operations()))
    assert cases >= 20 * operations, (cases, operations)  # it did run, widely
