"""The audit trail, read: API, CLI and console over `audit_log`."""
