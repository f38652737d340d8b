"""The demo's static vocabulary: who the customers are, which countries the
tariff deck covers, which cloud SKUs the price book lists.

Plain data, no randomness: `tariffs.py` and `usage.py` draw the numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from rerate.models.enums import AccountKind

# --------------------------------------------------------------------------- tenancy

PLATFORM = "rerate Platform"
DISTRIBUTOR = "Northwind Distribution"
ACME = "Acme Cloud Reseller"
BLUE = "Blue Voice Partners"

DEMO_PASSWORD = "rerate-demo"


@dataclass(frozen=True, slots=True)
class AccountGroup:
    """`count` accounts of one platform for a customer."""

    platform: str  # azure, aws, gcp, cloudstack, azurestack, asterisk
    count: int


@dataclass(frozen=True, slots=True)
class CustomerSpec:
    key: str
    name: str
    parent: str  # ACME, BLUE or DISTRIBUTOR
    tz: str
    tax_rate: str  # Decimal text
    home: str  # country code most calls go to (VoIP)
    accounts: tuple[AccountGroup, ...]
    active_contract: bool = True
    earlier_coverage: bool = False  # contract coverage starts months before the data
    passthrough: bool = False
    commitment: bool = False  # the customer whose minimum commitment one month misses
    # How an issued invoice is corrected (docs/invoicing.md): the demo's one
    # `credit_note` customer gets its latest invoice corrected by a credit note.
    correction_policy: str = "replace"

    @property
    def has_cloud(self) -> bool:
        return any(g.platform != "asterisk" for g in self.accounts)

    @property
    def has_voip(self) -> bool:
        return any(g.platform == "asterisk" for g in self.accounts)


def _g(platform: str, count: int) -> AccountGroup:
    return AccountGroup(platform, count)


# fmt: off
CUSTOMERS: tuple[CustomerSpec, ...] = (
    CustomerSpec("contoso", "Contoso Retail SAS", ACME, "Europe/Paris", "0.20", "33",
                 (_g("azure", 3), _g("aws", 1)), earlier_coverage=True),
    CustomerSpec("fabrikam", "Fabrikam Manufacturing GmbH", ACME, "Europe/Berlin", "0.19", "49",
                 (_g("azure", 3), _g("cloudstack", 1)), passthrough=True),
    CustomerSpec("tailspin", "Tailspin Toys Inc.", ACME, "America/New_York", "0.00", "1",
                 (_g("aws", 3), _g("azure", 1))),
    CustomerSpec("wingtip", "Wingtip Analytics Ltd", ACME, "UTC", "0.20", "44",
                 (_g("gcp", 2), _g("aws", 1)), earlier_coverage=True,
                 correction_policy="credit_note"),
    CustomerSpec("litware", "Litware Health SAS", ACME, "Europe/Paris", "0.20", "33",
                 (_g("azure", 2),), commitment=True),
    CustomerSpec("adatum", "Adatum Logistics GmbH", ACME, "Europe/Berlin", "0.19", "49",
                 (_g("azure", 2),), active_contract=False),
    CustomerSpec("proseware", "Proseware Media", ACME, "UTC", "0.00", "44",
                 (_g("azurestack", 3),), passthrough=True),
    CustomerSpec("trey", "Trey Research Inc.", ACME, "America/New_York", "0.00", "1",
                 (_g("aws", 2), _g("gcp", 1))),
    CustomerSpec("alpine", "Alpine Telecom SARL", BLUE, "Europe/Paris", "0.20", "33",
                 (_g("asterisk", 3),)),
    CustomerSpec("bordeaux", "Bordeaux Call Center SAS", BLUE, "Europe/Paris", "0.20", "33",
                 (_g("asterisk", 3),), earlier_coverage=True),
    CustomerSpec("hudson", "Hudson Contact Services LLC", BLUE, "America/New_York", "0.00", "1",
                 (_g("asterisk", 3),)),
    CustomerSpec("rhein", "Rhein Dialog GmbH", BLUE, "Europe/Berlin", "0.19", "49",
                 (_g("asterisk", 2),)),
    CustomerSpec("skyline", "Skyline Travel Ltd", BLUE, "UTC", "0.00", "44",
                 (_g("asterisk", 2),)),
    CustomerSpec("globex", "Globex Unified Communications", BLUE, "Europe/Paris", "0.20", "33",
                 (_g("asterisk", 3),)),
    CustomerSpec("northwind_it", "Northwind Internal IT", DISTRIBUTOR, "Europe/Berlin", "0.19",
                 "49", (_g("azure", 2), _g("aws", 1))),
)
# fmt: on

# The VoIP peer that changes hands mid-month: first peer of `alpine` -> `bordeaux`.
MOVING_PEER_FROM = "alpine"
MOVING_PEER_TO = "bordeaux"
LOGIN_CUSTOMER = "contoso"

ACCOUNT_KIND: dict[str, AccountKind] = {
    "azure": AccountKind.SUBSCRIPTION,
    "azurestack": AccountKind.SUBSCRIPTION,
    "cloudstack": AccountKind.SUBSCRIPTION,
    "aws": AccountKind.MANAGEMENT_ACCOUNT,
    "gcp": AccountKind.MANAGEMENT_ACCOUNT,
    "asterisk": AccountKind.VOIP_PEER,
}

# Regions: code, name, platform. An account lives in its platform's regions.
REGIONS: tuple[tuple[str, str, str], ...] = (
    ("westeurope", "West Europe (Amsterdam)", "azure"),
    ("northeurope", "North Europe (Dublin)", "azure"),
    ("eastus", "East US (Virginia)", "azure"),
    ("eu-west-3", "Europe (Paris)", "aws"),
    ("us-east-1", "US East (N. Virginia)", "aws"),
    ("europe-west1", "Belgium", "gcp"),
    ("ch-gva-1", "Geneva (CloudStack)", "cloudstack"),
    ("azs-paris-1", "Azure Stack Hub Paris", "azurestack"),
)
PLATFORM_REGIONS: dict[str, tuple[str, ...]] = {
    "azure": ("westeurope", "northeurope", "eastus"),
    "aws": ("eu-west-3", "us-east-1"),
    "gcp": ("europe-west1",),
    "cloudstack": ("ch-gva-1",),
    "azurestack": ("azs-paris-1",),
}

# --------------------------------------------------------------------------- users

# email, display name, role, node name (a customer key for customer users)
USERS: tuple[tuple[str, str, str, str], ...] = (
    ("admin@example.com", "Platform Admin", "platform_admin", PLATFORM),
    ("service@example.com", "Platform Service", "platform_service", PLATFORM),
    ("distributor@example.com", "Northwind Distribution Admin", "distributor", DISTRIBUTOR),
    ("reseller@example.com", "Acme Reseller Admin", "partner_admin", ACME),
    ("reseller-user@example.com", "Acme Reseller User", "partner_user", ACME),
    ("voice@example.com", "Blue Voice Admin", "partner_admin", BLUE),
    ("customer@example.com", "Contoso Finance", "customer_user", LOGIN_CUSTOMER),
)

# --------------------------------------------------------------------------- cloud SKUs


@dataclass(frozen=True, slots=True)
class Sku:
    sku: str
    service: str
    unit: str
    kind: str  # hours, gbmonth, gb, ops, units: how daily quantities are drawn
    size: float  # relative size, scales the base price and quantity


def _skus() -> tuple[Sku, ...]:
    out: list[Sku] = []
    families = {
        "b": ("b1s", "b1ms", "b2s", "b2ms", "b4ms", "b8ms"),
        "d": ("d2s_v5", "d4s_v5", "d8s_v5", "d16s_v5", "d32s_v5", "d48s_v5", "d64s_v5"),
        "e": ("e2s_v5", "e4s_v5", "e8s_v5", "e16s_v5", "e32s_v5", "e64s_v5"),
        "f": ("f2s_v2", "f4s_v2", "f8s_v2", "f16s_v2", "f32s_v2", "f72s_v2"),
        "l": ("l8s_v3", "l16s_v3", "l32s_v3"),
        "nc": ("nc4as_t4_v3", "nc8as_t4_v3", "nc16as_t4_v3", "nc64as_t4_v3"),
    }
    family_factor = {"b": 0.6, "d": 1.0, "e": 1.3, "f": 0.9, "l": 1.5, "nc": 6.0}
    for fam, sizes in families.items():
        for i, vm in enumerate(sizes):
            for os_name, os_factor in (("linux", 1.0), ("windows", 1.8)):
                out.append(
                    Sku(
                        f"compute.vm.{vm}.{os_name}",
                        "Compute",
                        "Hours",
                        "hours",
                        family_factor[fam] * (2.0**i) * os_factor,
                    )
                )
    for name, unit, kind, size in (
        ("compute.aks.uptime-sla", "Hours", "hours", 1.0),
        ("compute.container-instances.vcpu", "vCPU-Hours", "hours", 0.4),
        ("compute.container-instances.memory", "GB-Hours", "hours", 0.05),
        ("compute.functions.executions", "1M Executions", "ops", 2.0),
        ("compute.functions.execution-time", "100K GB-Seconds", "ops", 1.6),
        ("compute.app-service.p1v3", "Hours", "hours", 2.2),
        ("compute.app-service.p2v3", "Hours", "hours", 4.4),
        ("compute.batch.low-priority.vcpu", "vCPU-Hours", "hours", 0.2),
        ("compute.dedicated-host.dsv5-type1", "Hours", "hours", 60.0),
        ("compute.vm-scale-set.orchestration", "Hours", "hours", 0.3),
    ):
        out.append(Sku(name, "Compute", unit, kind, size))
    for tier, tier_factor in (("hot", 1.0), ("cool", 0.55), ("archive", 0.1)):
        for red, red_factor in (("lrs", 1.0), ("zrs", 1.25), ("grs", 2.0)):
            out.append(
                Sku(
                    f"storage.blob.{tier}.{red}.capacity",
                    "Storage",
                    "GB-Month",
                    "gbmonth",
                    tier_factor * red_factor,
                )
            )
            out.append(
                Sku(
                    f"storage.blob.{tier}.{red}.write-ops",
                    "Storage",
                    "10K Operations",
                    "ops",
                    red_factor / tier_factor,
                )
            )
            out.append(
                Sku(
                    f"storage.blob.{tier}.{red}.read-ops",
                    "Storage",
                    "10K Operations",
                    "ops",
                    0.4 / tier_factor,
                )
            )
    for i, disk in enumerate(
        ("p4", "p6", "p10", "p15", "p20", "p30", "p40", "p50", "p60", "p70", "p80")
    ):
        out.append(
            Sku(f"storage.managed-disk.premium.{disk}", "Storage", "Disk-Month", "units", 1.6**i)
        )
    for i, disk in enumerate(("s4", "s6", "s10", "s15", "s20", "s30", "s40", "s50")):
        out.append(
            Sku(
                f"storage.managed-disk.standard.{disk}",
                "Storage",
                "Disk-Month",
                "units",
                1.5**i * 0.4,
            )
        )
    for name, unit, kind, size in (
        ("storage.files.premium.capacity", "GB-Month", "gbmonth", 8.0),
        ("storage.files.standard.capacity", "GB-Month", "gbmonth", 3.0),
        ("storage.snapshots.capacity", "GB-Month", "gbmonth", 2.5),
        ("storage.backup.protected-instance", "Instance-Month", "units", 5.0),
        ("storage.backup.grs.capacity", "GB-Month", "gbmonth", 2.0),
        ("storage.queue.operations", "10K Operations", "ops", 0.5),
        ("storage.table.capacity", "GB-Month", "gbmonth", 2.0),
    ):
        out.append(Sku(name, "Storage", unit, kind, size))
    for name, unit, kind, size in (
        ("network.egress.internet.zone1", "GB", "gb", 1.0),
        ("network.egress.internet.zone2", "GB", "gb", 1.4),
        ("network.egress.internet.zone3", "GB", "gb", 2.0),
        ("network.egress.inter-region.europe", "GB", "gb", 0.25),
        ("network.egress.inter-region.intercontinental", "GB", "gb", 0.6),
        ("network.ingress.private-link", "GB", "gb", 0.12),
        ("network.public-ip.basic", "Hours", "hours", 0.05),
        ("network.public-ip.standard", "Hours", "hours", 0.07),
        ("network.load-balancer.rules", "Hours", "hours", 0.3),
        ("network.load-balancer.data-processed", "GB", "gb", 0.06),
        ("network.nat-gateway.hours", "Hours", "hours", 0.5),
        ("network.nat-gateway.data-processed", "GB", "gb", 0.55),
        ("network.vpn-gateway.vpngw1", "Hours", "hours", 2.0),
        ("network.vpn-gateway.vpngw2", "Hours", "hours", 5.0),
        ("network.vpn-gateway.vpngw3", "Hours", "hours", 12.0),
        ("network.vpn-gateway.s2s-tunnel", "Hours", "hours", 0.15),
        ("network.expressroute.1gbps-metered", "Hours", "hours", 5.5),
        ("network.expressroute.egress", "GB", "gb", 0.3),
        ("network.application-gateway.v2", "Hours", "hours", 2.5),
        ("network.application-gateway.capacity-unit", "CU-Hours", "hours", 0.1),
        ("network.firewall.standard", "Hours", "hours", 15.0),
        ("network.firewall.data-processed", "GB", "gb", 0.2),
        ("network.dns.zones", "Zone-Month", "units", 0.5),
        ("network.dns.queries", "1M Queries", "ops", 0.4),
        ("network.cdn.standard.zone1", "GB", "gb", 0.8),
        ("network.cdn.standard.zone2", "GB", "gb", 1.2),
        ("network.private-endpoint.hours", "Hours", "hours", 0.12),
        ("network.bastion.basic", "Hours", "hours", 2.3),
        ("network.ddos-protection.standard", "Month", "units", 300.0),
        ("network.traffic-manager.queries", "1M Queries", "ops", 0.5),
    ):
        out.append(Sku(name, "Network", unit, kind, size))
    for tier, tier_factor in (("gp", 1.0), ("bc", 2.7)):
        for i, cores in enumerate((2, 4, 8, 16, 32)):
            out.append(
                Sku(
                    f"database.sql.{tier}.gen5.{cores}vcore",
                    "Database",
                    "Hours",
                    "hours",
                    tier_factor * 2.0**i * 3.0,
                )
            )
    for tier, tier_factor in (("burstable", 0.4), ("gp", 1.0), ("mo", 1.4)):
        for i, cores in enumerate((2, 4, 8, 16)):
            out.append(
                Sku(
                    f"database.postgresql.flexible.{tier}.{cores}vcore",
                    "Database",
                    "Hours",
                    "hours",
                    tier_factor * 2.0**i * 1.6,
                )
            )
    for i, cores in enumerate((2, 4, 8, 16)):
        out.append(
            Sku(
                f"database.mysql.flexible.gp.{cores}vcore",
                "Database",
                "Hours",
                "hours",
                2.0**i * 1.5,
            )
        )
    for i, cache in enumerate(("c0", "c1", "c2", "c3", "c4", "c5", "c6")):
        out.append(
            Sku(f"database.redis.standard.{cache}", "Database", "Hours", "hours", 1.7**i * 0.4)
        )
    for name, unit, kind, size in (
        ("database.sql.storage", "GB-Month", "gbmonth", 1.5),
        ("database.sql.backup.ltr", "GB-Month", "gbmonth", 0.6),
        ("database.postgresql.storage", "GB-Month", "gbmonth", 1.4),
        ("database.postgresql.backup", "GB-Month", "gbmonth", 1.1),
        ("database.mysql.storage", "GB-Month", "gbmonth", 1.3),
        ("database.cosmos.provisioned-ru", "100 RU/s-Hours", "hours", 0.1),
        ("database.cosmos.serverless-ru", "1M RUs", "ops", 0.3),
        ("database.cosmos.storage", "GB-Month", "gbmonth", 3.0),
    ):
        out.append(Sku(name, "Database", unit, kind, size))
    return tuple(out)


PRICED_SKUS: tuple[Sku, ...] = _skus()

# Sources report these, the price book does not list them: they rate as
# unpriced (pass-through at list cost where the contract allows, else unrated).
UNPRICED_SKUS: tuple[Sku, ...] = (
    Sku("marketplace.fortinet.fortigate-vm.byol", "Marketplace", "Hours", "hours", 1.2),
    Sku("marketplace.redhat.rhel-payg", "Marketplace", "Hours", "hours", 0.6),
    Sku("marketplace.datadog.hosts", "Marketplace", "Host-Hours", "hours", 0.9),
    Sku("compute.vm.hb120rs_v3.linux", "Compute", "Hours", "hours", 40.0),
    Sku("network.egress.satellite-ground", "Network", "GB", "gb", 3.0),
)

# Tiered SKUs: (sku, mode, [(from_quantity, price in 1e-4 units)]). Boundaries are
# chosen so that their text sorts like their value: on SQLite, DecimalType is
# stored as text, and an ORDER BY from_quantity (PriceEntry.tiers) compares
# strings ("153600" < "51200").
TIERED: tuple[tuple[str, str, tuple[tuple[int, int], ...]], ...] = (
    (
        "network.egress.internet.zone1",
        "graduated",
        ((0, 870), (10_240, 830), (51_200, 700)),
    ),
    ("network.egress.internet.zone2", "graduated", ((0, 1_200), (10_240, 1_150), (51_200, 1_000))),
    ("storage.blob.hot.lrs.capacity", "volume", ((0, 184), (51_200, 177), (512_000, 170))),
    ("database.cosmos.serverless-ru", "volume", ((0, 2_500), (1_000, 2_200), (10_000, 1_900))),
)

# Region-specific prices: SKU name prefix -> {region: percent of the generic price}.
REGIONAL: tuple[tuple[str, dict[str, int]], ...] = (
    ("compute.vm.d", {"ch-gva-1": 115, "eastus": 95}),
    ("compute.vm.e", {"ch-gva-1": 118}),
    ("storage.blob.hot", {"ch-gva-1": 120}),
    ("storage.managed-disk.premium", {"azs-paris-1": 130}),
)

# --------------------------------------------------------------------------- tariff deck


@dataclass(frozen=True, slots=True)
class Country:
    cc: str
    name: str
    zone: str  # A (cheap) .. C (expensive), S satellite
    fixed: tuple[str, ...]  # national leads of fixed ranges (after the country code)
    mobile: tuple[str, ...]  # national leads of mobile ranges
    weight: float  # share of international traffic
    length: int  # digits of a full E.164 number
    depth: int  # 0: leads only; 1: + one more digit; 2: + two more digits (mobile)


def _c(
    cc: str,
    name: str,
    zone: str,
    fixed: str,
    mobile: str,
    weight: float,
    length: int = 11,
    depth: int = 1,
) -> Country:
    return Country(
        cc, name, zone, tuple(fixed.split()), tuple(mobile.split()), weight, length, depth
    )


# fmt: off
COUNTRIES: tuple[Country, ...] = (
    # Europe
    _c("33", "France", "A", "1 2 3 4 5 9", "6 7", 30.0, 11, 2),
    _c("49", "Germany", "A", "2 3 4 5 6 7 8 9", "15 16 17", 8.0, 12, 2),
    _c("44", "United Kingdom", "A", "1 2", "7", 7.0, 12, 2),
    _c("34", "Spain", "A", "8 9", "6 7", 4.0, 11, 2),
    _c("39", "Italy", "A", "0", "3", 4.0, 12, 2),
    _c("32", "Belgium", "A", "2 3 4 9", "4", 3.0, 11, 2),
    _c("31", "Netherlands", "A", "1 2 3 4 5 7", "6", 2.0, 11, 2),
    _c("41", "Switzerland", "A", "2 3 4 5 6 8", "7", 3.0, 11, 2),
    _c("43", "Austria", "A", "1 2 3 4 5", "6", 1.0, 12, 1),
    _c("351", "Portugal", "A", "2", "9", 1.5, 12, 2),
    _c("352", "Luxembourg", "A", "2 4", "6", 1.0, 11, 1),
    _c("353", "Ireland", "A", "1 2 4 5 6 7 9", "8", 1.0, 12, 1),
    _c("46", "Sweden", "A", "1 2 3 4 5 6 8 9", "7", 1.0, 11, 1),
    _c("47", "Norway", "A", "2 3 5 6 7", "4 9", 0.8, 11, 1),
    _c("45", "Denmark", "A", "3 4 7 8 9", "2", 0.8, 11, 1),
    _c("358", "Finland", "A", "1 2 3 5 6 8 9", "4 50", 0.6, 12, 1),
    _c("48", "Poland", "B", "1 2 3 4 8", "5 6 7", 1.2, 11, 1),
    _c("420", "Czech Republic", "B", "2 3 4 5", "6 7", 0.7, 12, 1),
    _c("36", "Hungary", "B", "1", "20 30 31 70", 0.5, 11, 1),
    _c("40", "Romania", "B", "2 3", "7", 1.2, 11, 1),
    _c("30", "Greece", "B", "2", "69", 0.6, 12, 1),
    _c("359", "Bulgaria", "B", "2 3 4 5 6 7", "8 9", 0.5, 12, 1),
    _c("385", "Croatia", "B", "1 2 3 4 5", "9", 0.4, 11, 1),
    _c("386", "Slovenia", "B", "1 2 4 5", "3 6 7", 0.3, 11, 1),
    _c("421", "Slovakia", "B", "2 3 4 5", "9", 0.3, 12, 1),
    _c("370", "Lithuania", "B", "3 4 5", "6", 0.2, 11, 1),
    _c("371", "Latvia", "B", "6", "2", 0.2, 11, 1),
    _c("372", "Estonia", "B", "3 4 6 7", "5 8", 0.2, 11, 1),
    _c("354", "Iceland", "B", "4 5", "6 7 8", 0.1, 11, 1),
    _c("356", "Malta", "B", "2", "7 9", 0.2, 11, 1),
    _c("357", "Cyprus", "B", "2", "9", 0.2, 11, 1),
    _c("377", "Monaco", "B", "9", "6", 0.3, 11, 1),
    _c("376", "Andorra", "B", "7 8", "3 6", 0.1, 11, 1),
    _c("380", "Ukraine", "B", "3 4 5", "50 63 66 67 68 73 93 95 96 97 98 99", 0.6, 12, 1),
    _c("381", "Serbia", "B", "1 2 3", "6", 0.4, 12, 1),
    _c("382", "Montenegro", "B", "2 3", "6", 0.1, 11, 1),
    _c("387", "Bosnia and Herzegovina", "B", "3 5", "6", 0.2, 11, 1),
    _c("389", "North Macedonia", "B", "2 3 4", "7", 0.1, 11, 1),
    _c("355", "Albania", "B", "2 4 5 8", "6", 0.2, 12, 1),
    _c("373", "Moldova", "B", "2", "6 7", 0.2, 11, 1),
    _c("375", "Belarus", "B", "1 2", "25 29 33 44", 0.2, 12, 1),
    _c("7", "Russia", "B", "3 4 8", "9", 0.8, 11, 1),
    _c("90", "Turkey", "B", "2 3 4", "5", 1.0, 12, 1),
    # Middle East and Africa
    _c("972", "Israel", "B", "2 3 4 8 9", "5", 0.6, 12, 1),
    _c("971", "United Arab Emirates", "B", "2 3 4 6 7 9", "5", 0.7, 12, 1),
    _c("966", "Saudi Arabia", "B", "1", "5", 0.5, 12, 1),
    _c("974", "Qatar", "B", "4", "3 5 6 7", 0.3, 11, 1),
    _c("965", "Kuwait", "B", "2", "5 6 9", 0.2, 11, 1),
    _c("973", "Bahrain", "B", "1", "3", 0.1, 11, 1),
    _c("968", "Oman", "B", "2", "7 9", 0.1, 11, 1),
    _c("962", "Jordan", "B", "2 3 5 6", "7", 0.2, 12, 1),
    _c("961", "Lebanon", "B", "1 4 5 6 8 9", "3 7", 0.3, 11, 1),
    _c("20", "Egypt", "C", "2 3", "10 11 12 15", 0.4, 12, 1),
    _c("212", "Morocco", "C", "52 53", "6 7", 2.0, 12, 2),
    _c("213", "Algeria", "C", "2 3", "5 6 7", 1.8, 12, 1),
    _c("216", "Tunisia", "C", "7", "2 4 5 9", 1.2, 11, 1),
    _c("221", "Senegal", "C", "33", "7", 0.8, 12, 1),
    _c("225", "Ivory Coast", "C", "2", "0", 0.6, 12, 1),
    _c("237", "Cameroon", "C", "2", "6", 0.5, 12, 1),
    _c("234", "Nigeria", "C", "1 9", "70 80 81 90", 0.3, 12, 1),
    _c("233", "Ghana", "C", "3", "2 5", 0.2, 12, 1),
    _c("254", "Kenya", "C", "20", "1 7", 0.2, 12, 1),
    _c("255", "Tanzania", "C", "2", "6 7", 0.1, 12, 1),
    _c("256", "Uganda", "C", "4", "7", 0.1, 12, 1),
    _c("27", "South Africa", "C", "1 2 3 4 5", "6 7 8", 0.4, 11, 1),
    _c("230", "Mauritius", "C", "2 4", "5", 0.2, 11, 1),
    _c("261", "Madagascar", "C", "20", "3", 0.2, 12, 1),
    _c("243", "DR Congo", "C", "1", "8 9", 0.2, 12, 1),
    _c("244", "Angola", "C", "2", "9", 0.1, 12, 1),
    _c("251", "Ethiopia", "C", "1", "9", 0.1, 12, 1),
    _c("260", "Zambia", "C", "21", "7 9", 0.1, 12, 1),
    _c("263", "Zimbabwe", "C", "2", "7", 0.1, 12, 1),
    _c("250", "Rwanda", "C", "25", "7", 0.1, 12, 1),
    _c("229", "Benin", "C", "2", "6 9", 0.1, 11, 1),
    _c("228", "Togo", "C", "2", "7 9", 0.1, 11, 1),
    _c("223", "Mali", "C", "2", "6 7", 0.2, 11, 1),
    _c("226", "Burkina Faso", "C", "2", "6 7", 0.1, 11, 1),
    _c("241", "Gabon", "C", "1", "6 7", 0.1, 11, 1),
    _c("242", "Congo", "C", "22", "0", 0.1, 12, 1),
    _c("262", "Reunion", "A", "262", "692 693", 0.8, 12, 1),
    _c("590", "Guadeloupe", "A", "590", "690", 0.5, 12, 1),
    _c("596", "Martinique", "A", "596", "696", 0.4, 12, 1),
    _c("594", "French Guiana", "A", "594", "694", 0.2, 12, 1),
    _c("689", "French Polynesia", "C", "4", "8", 0.1, 11, 1),
    _c("687", "New Caledonia", "C", "2", "7 8 9", 0.1, 11, 1),
    # Asia and Pacific
    _c("86", "China", "B", "10 2 3 5 7", "13 15 17 18 19", 1.0, 12, 1),
    _c("81", "Japan", "B", "3 4 5 6", "70 80 90", 0.5, 12, 1),
    _c("82", "South Korea", "B", "2 3 5 6", "10", 0.3, 12, 1),
    _c("852", "Hong Kong", "B", "2 3", "5 6 9", 0.3, 11, 1),
    _c("853", "Macau", "B", "28", "6", 0.1, 11, 1),
    _c("886", "Taiwan", "B", "2 4 7", "9", 0.2, 12, 1),
    _c("65", "Singapore", "B", "6", "8 9", 0.4, 11, 1),
    _c("60", "Malaysia", "B", "3 4 5 7 8 9", "1", 0.2, 11, 1),
    _c("66", "Thailand", "B", "2", "6 8 9", 0.3, 11, 1),
    _c("84", "Vietnam", "C", "2", "3 7 8 9", 0.4, 11, 1),
    _c("62", "Indonesia", "C", "21 22 31", "8", 0.2, 12, 1),
    _c("63", "Philippines", "C", "2", "9", 0.3, 12, 1),
    _c("91", "India", "B", "11 22 33 40 44 80", "6 7 8 9", 1.0, 12, 1),
    _c("92", "Pakistan", "C", "21 42 51", "3", 0.3, 12, 1),
    _c("880", "Bangladesh", "C", "2", "1", 0.2, 12, 1),
    _c("94", "Sri Lanka", "C", "11", "7", 0.1, 11, 1),
    _c("977", "Nepal", "C", "1", "98", 0.1, 12, 1),
    _c("61", "Australia", "A", "2 3 7 8", "4", 0.5, 11, 1),
    _c("64", "New Zealand", "A", "3 4 6 7 9", "2", 0.2, 11, 1),
    _c("855", "Cambodia", "C", "23", "1 6 7 8 9", 0.1, 11, 1),
    _c("95", "Myanmar", "C", "1", "9", 0.1, 11, 1),
    # Latin America (NANP is built separately)
    _c("52", "Mexico", "B", "33 55 81", "1", 0.6, 12, 1),
    _c("55", "Brazil", "B", "11 21 31 41 51 61", "119 219 319 419 519 619", 0.8, 12, 1),
    _c("54", "Argentina", "B", "11 22 33", "9", 0.3, 12, 1),
    _c("56", "Chile", "B", "2", "9", 0.2, 11, 1),
    _c("57", "Colombia", "B", "1 2 4 5 6", "3", 0.3, 12, 1),
    _c("58", "Venezuela", "C", "2", "4", 0.1, 12, 1),
    _c("51", "Peru", "B", "1", "9", 0.2, 11, 1),
    _c("593", "Ecuador", "C", "2 4", "9", 0.1, 12, 1),
    _c("598", "Uruguay", "B", "2 4", "9", 0.1, 11, 1),
    _c("595", "Paraguay", "C", "21", "9", 0.1, 12, 1),
    _c("591", "Bolivia", "C", "2 3", "6 7", 0.1, 11, 1),
    _c("506", "Costa Rica", "B", "2", "6 7 8", 0.1, 11, 1),
    _c("507", "Panama", "B", "2 3", "6", 0.1, 11, 1),
    _c("502", "Guatemala", "C", "2", "3 4 5", 0.1, 11, 1),
    _c("503", "El Salvador", "C", "2", "6 7", 0.1, 11, 1),
    _c("504", "Honduras", "C", "2", "3 8 9", 0.1, 11, 1),
    _c("505", "Nicaragua", "C", "2", "8", 0.1, 11, 1),
    _c("53", "Cuba", "C", "7", "5", 0.2, 11, 1),
    _c("509", "Haiti", "C", "2", "3 4", 0.2, 11, 1),
)
# fmt: on

# Satellite and global networks: prefix, destination group.
GLOBAL_NETWORKS: tuple[tuple[str, str], ...] = (
    ("870", "Satellite Inmarsat"),
    ("8816", "Satellite Iridium"),
    ("8817", "Satellite Iridium"),
    ("8818", "Satellite Globalstar"),
    ("8819", "Satellite Globalstar"),
    ("88234", "International Networks"),
    ("88237", "International Networks"),
    ("88239", "International Networks"),
    ("88310", "International Networks"),
)

# fmt: off
CANADA_NPAS = frozenset({
    204, 226, 236, 249, 250, 263, 289, 306, 343, 354, 365, 367, 368, 403, 416, 418, 428, 431,
    437, 438, 450, 468, 474, 506, 514, 519, 548, 579, 581, 584, 587, 604, 613, 639, 647, 672,
    683, 705, 709, 742, 753, 778, 780, 782, 807, 819, 825, 867, 873, 879, 902, 905,
})
# fmt: on
CARIBBEAN_NPAS: dict[int, str] = {
    242: "Bahamas",
    246: "Barbados",
    264: "Anguilla",
    268: "Antigua and Barbuda",
    284: "British Virgin Islands",
    340: "US Virgin Islands",
    345: "Cayman Islands",
    441: "Bermuda",
    473: "Grenada",
    649: "Turks and Caicos",
    664: "Montserrat",
    670: "Northern Mariana Islands",
    671: "Guam",
    684: "American Samoa",
    721: "Sint Maarten",
    758: "Saint Lucia",
    767: "Dominica",
    784: "Saint Vincent",
    787: "Puerto Rico",
    809: "Dominican Republic",
    829: "Dominican Republic",
    849: "Dominican Republic",
    868: "Trinidad and Tobago",
    869: "Saint Kitts and Nevis",
    876: "Jamaica",
    939: "Puerto Rico",
}
NANP_WEIGHT = 8.0

# Never in the deck (unassigned E.164 country codes): calls there stay unrated.
UNMATCHED_PREFIXES: tuple[str, ...] = ("280", "281", "283", "289", "890", "893", "896")

# Banded entries: prefix -> (peak percent, offpeak percent) of the band-less rate.
BANDED: dict[str, tuple[int, int]] = {
    "33": (120, 80),
    "336": (115, 85),
    "337": (115, 85),
    "49": (120, 80),
    "44": (120, 80),
    "447": (115, 85),
    "1": (110, 90),
    "34": (120, 85),
    "39": (120, 85),
}


# --------------------------------------------------------------------------- calendar


def easter(year: int) -> date:
    """Gregorian Easter Sunday (the anonymous Gregorian algorithm)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    ell = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * ell) // 451
    month, day = divmod(h + ell - 7 * m + 114, 31)
    return date(year, month, day + 1)


def french_holidays(year: int) -> list[tuple[date, str]]:
    """French public holidays of `year`, one per day (Ascension may fall on 1 or 8 May)."""
    e = easter(year)
    days: dict[date, str] = {}
    for day, name in (
        (date(year, 1, 1), "Jour de l'an"),
        (e + timedelta(days=1), "Lundi de Pâques"),
        (date(year, 5, 1), "Fête du Travail"),
        (date(year, 5, 8), "Victoire 1945"),
        (e + timedelta(days=39), "Ascension"),
        (e + timedelta(days=50), "Lundi de Pentecôte"),
        (date(year, 7, 14), "Fête nationale"),
        (date(year, 8, 15), "Assomption"),
        (date(year, 11, 1), "Toussaint"),
        (date(year, 11, 11), "Armistice 1918"),
        (date(year, 12, 25), "Noël"),
    ):
        days.setdefault(day, name)
    return sorted(days.items())
