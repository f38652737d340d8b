from __future__ import annotations

import pytest

from rerate.usage.errors import ImportRejected
from rerate.usage.importers import ImportOptions, parse
from rerate.usage.resolve import resolve_accounts, unknown_refs

from .helpers import EXAMPLES


def test_known_accounts_get_their_ids() -> None:
    result = parse("asterisk", EXAMPLES / "asterisk" / "Master.csv")
    table, rejects = resolve_accounts(
        result, {"peer-acme": 7, "peer-globex": 9}, file="Master.csv", skip_bad_rows=False
    )
    assert table.column("account_id").to_pylist() == [7, 7, 9]
    assert rejects == []


def test_unknown_account_rejects_at_its_first_line() -> None:
    result = parse("asterisk", EXAMPLES / "asterisk" / "Master.csv")
    with pytest.raises(ImportRejected) as err:
        resolve_accounts(result, {"peer-acme": 7}, file="Master.csv", skip_bad_rows=False)
    assert str(err.value) == "Master.csv:3: accountcode: unknown account 'peer-globex'"


def test_unknown_accounts_become_rejects_when_skipping() -> None:
    result = parse("focus", EXAMPLES / "focus" / "sample.csv", ImportOptions(skip_bad_rows=True))
    table, rejects = resolve_accounts(
        result, {"444455556666": 1}, file="sample.csv", skip_bad_rows=True
    )
    assert table.num_rows == 2
    assert table.column("account_id").to_pylist() == [1, 1]
    assert [(r.line, r.column, r.reason) for r in rejects] == [
        (4, "SubAccountId", "unknown account '777788889999'"),
        (5, "SubAccountId", "unknown account '111122223333'"),
    ]
    assert rejects[0].raw.startswith("111122223333,Acme Payer,777788889999")


def test_unknown_refs_lists_each_missing_ref_with_its_first_line() -> None:
    result = parse("focus", EXAMPLES / "focus" / "sample.csv")
    assert unknown_refs(result, {"444455556666": 1}) == {"777788889999": 4, "111122223333": 5}
    assert unknown_refs(result, {"444455556666": 1, "777788889999": 2, "111122223333": 3}) == {}
