"""The demo dataset behind `rerate demo`: a deterministic tenancy, price books,
a 5,000-prefix tariff deck, contracts and over a million usage rows."""

from rerate.demo.catalog import DEMO_PASSWORD
from rerate.demo.loader import DemoLogin, DemoSummary, has_data, load_demo
from rerate.demo.window import DemoWindow

__all__ = ["DEMO_PASSWORD", "DemoLogin", "DemoSummary", "DemoWindow", "has_data", "load_demo"]
