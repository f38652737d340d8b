"""The canonical usage schema: what every importer produces and the rater reads.

One Arrow schema serves cloud usage and CDRs (the `kind` column says which);
columns that do not apply to a kind are null. Money and quantities are
DECIMAL(38, 10): never floats. Timestamps are UTC microseconds.

Storage layout (see docs/formats.md):
    <data_dir>/usage/day=YYYY-MM-DD/<import_id>.parquet
`day` is the UTC day of `usage_start`. A file belongs to exactly one import; an
import is visible to readers only once its `usage_imports` row is committed,
so a crashed import leaves nothing readers can see.
"""

from __future__ import annotations

from enum import StrEnum

import pyarrow as pa

DECIMAL = pa.decimal128(38, 10)
TIMESTAMP = pa.timestamp("us", tz="UTC")


class UsageKind(StrEnum):
    CLOUD = "cloud"
    CDR = "cdr"


class UsageSource(StrEnum):
    FOCUS = "focus"
    AZURE = "azure"
    CLOUDSTACK = "cloudstack"
    ASTERISK = "asterisk"
    FREESWITCH = "freeswitch"
    GENERIC_CDR = "generic_cdr"
    API = "api"
    AZURE_STACK = "azure_stack"  # collected: collection/collectors/azure_stack.py
    AZURE_LOCAL = "azure_local"  # collected: collection/collectors/azure_local.py


USAGE_SCHEMA = pa.schema(
    [
        # Identity
        pa.field("record_id", pa.string(), nullable=False),  # source id or hash of identity
        pa.field("content_hash", pa.string(), nullable=False),  # hash of the billable content
        pa.field("import_id", pa.int64(), nullable=False),
        pa.field("source", pa.string(), nullable=False),  # UsageSource
        pa.field("kind", pa.string(), nullable=False),  # UsageKind
        # Who
        pa.field("account_ref", pa.string(), nullable=False),  # external id as in the source
        pa.field("account_id", pa.int64(), nullable=False),  # rerate accounts.id
        # When (UTC, half-open [usage_start, usage_end))
        pa.field("usage_start", TIMESTAMP, nullable=False),
        pa.field("usage_end", TIMESTAMP, nullable=False),
        # Cloud
        pa.field("service", pa.string()),
        pa.field("sku", pa.string()),  # SKU or meter id
        pa.field("region", pa.string()),
        pa.field("quantity", DECIMAL),  # consumed quantity in `unit`
        pa.field("unit", pa.string()),
        pa.field("list_cost", DECIMAL),  # source's list cost, for pass-through
        pa.field("currency", pa.string()),
        # CDR
        pa.field("calling_number", pa.string()),  # as in the source
        pa.field("called_number", pa.string()),  # as in the source
        pa.field("destination", pa.string()),  # called number normalised to E.164 digits
        pa.field("duration_seconds", pa.int64()),  # whole call, ring included
        pa.field("billable_seconds", pa.int64()),  # answered time (billsec)
        pa.field("disposition", pa.string()),  # ANSWERED, NO ANSWER, BUSY, FAILED ...
    ]
)

USAGE_COLUMNS = tuple(USAGE_SCHEMA.names)
