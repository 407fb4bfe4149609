"""Loyalty: points rules, tiers over a rolling window, expiry; the ledger itself is in the store."""
