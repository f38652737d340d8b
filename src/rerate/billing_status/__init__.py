"""Billing status: overdue, issued, uninvoiced and paid per tenant and subscription."""
