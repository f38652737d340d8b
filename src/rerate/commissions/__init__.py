"""Commissions: rules, what they earn on invoiced net, summaries and statements."""
