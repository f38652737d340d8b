"""A collected CloudStack VM is priced through the catalog: its offering's SKU
is mapped (`sku_map`) to a price entry's SKU and rated by the customer's
contract, like any imported usage."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.dataset as ds
from fastapi.testclient import TestClient

from rerate.billing.runs import compute_run
from rerate.kit.db import Database
from rerate.kit.periods import Month
from rerate.models import Node
from tests.billing.fixtures import build_billing
from tests.collection.helpers import job, run_jobs
from tests.collection.servers import CloudStackState, cloudstack_server
from tests.world import World

OFFERING = "c6f8a8a0-2222-4a1b-8c3d-0000000000aa"


def test_collected_usage_is_priced_through_the_catalog(
    client: TestClient, world: World, database: Database, data_dir: Path
):
    build_billing(database, data_dir, world, extra_prices={"vm.medium": "0.1000000000"})
    record = {
        "account": "x", "accountid": "acc-x", "zoneid": "zone-1", "usagetype": "1",
        "rawusage": "24", "usageid": "vm-77", "offeringid": OFFERING,
        "virtualmachineid": "vm-77", "templateid": "tpl-win",
        "startdate": "2026-08-03'T'00:00:00+00:00", "enddate": "2026-08-03'T'23:59:59+00:00",
    }  # fmt: skip
    state = CloudStackState(api_key="AK", secret_key="SK", records={"2026-08-03": [record]})
    with cloudstack_server(state) as endpoint:
        body = {
            "code": "ch-gva-1",
            "platform": "cloudstack",
            "owner_node_id": world.nodes["partner_a1"].id,
            "settings": {"endpoint": endpoint, "api_key": "AK",
                         "sku_map": {f"1:{OFFERING}": "vm.medium"}},
            "secret": "SK",
        }  # fmt: skip
        admin = world.headers("platform_admin")
        region = client.post("/api/v1/regions", json=body, headers=admin)
        assert region.status_code == 201, region.text
        queued = client.post(
            f"/api/v1/regions/{region.json()['id']}/collect",
            json={"start": "2026-08-03", "end": "2026-08-04"},
            headers=admin,
        )
        run_jobs(database, data_dir)
    status, result, error = job(database, queued.json()["id"])
    assert status == "complete", error
    assert result["rows_new"] == 1
    with database.session() as s:
        customer = s.get(Node, world.nodes["cust_a1x"].id)
        computed = compute_run(s, data_dir, customer, Month.parse("2026-08"))
    rated = ds.dataset(computed.path / "rated", format="parquet").to_table()
    item = pc.cast(rated.column("item"), "string")
    mine = rated.filter(pc.equal(item, "vm.medium")).to_pylist()
    assert len(mine) == 1
    row = mine[0]
    assert row["status"] == "rated"
    assert row["service"] == "RUNNING_VM"
    assert row["quantity"] == Decimal(24)
    assert row["net_amount"] == Decimal("2.4")  # 24 h x 0.10 from the price entry
    assert row["entry_id"] is not None
