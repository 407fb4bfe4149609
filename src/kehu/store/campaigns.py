"""Campaigns, their randomized arms and the messages sent.

Tables (on :data:`kehu.store.schema.metadata`)::

    campaigns          one row per campaign: target (segment or rule), offer, channel, template, holdout share,
                       seed, attribution window, status (draft | assigned | launched) and when each step happened
    campaign_members   one row per (campaign, customer): arm (treatment | holdout), stratum, and the baseline at
                       assignment (active before launch, lapsed) — written, all at once, before any message
    campaign_messages  one row per (campaign, customer) message attempt outcome: status (sent | failed), when,
                       the provider's id or the error; holdout customers never get a row
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from kehu.store.schema import UTCDateTime, metadata

__all__ = ["ARMS", "CAMPAIGN_STATES", "campaign_members", "campaign_messages", "campaigns"]

ARMS = ("treatment", "holdout")
CAMPAIGN_STATES = ("draft", "assigned", "launched")

campaigns = Table(
    "campaigns",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False),
    Column("target", JSON, nullable=False),  # {"segment": "SCHEME:SEGMENT"} or {"rule": <rule tree>}
    Column("stratify_by", String(100), nullable=True),  # scheme whose segment is each member's stratum
    Column("offer", JSON, nullable=True),  # e.g. {"coupon": "BACK20", "amount": 20}
    Column("channel", String(100), nullable=False),  # email | webhook:NAME | sms
    Column("subject", String(300), nullable=True),
    Column("template", Text, nullable=False),
    Column("holdout_share", Float(precision=53), nullable=False),
    Column("seed", BigInteger, nullable=False),
    Column("attribution_days", Integer, nullable=False),
    Column("lapse_days", Integer, nullable=False),
    Column("status", String(10), nullable=False),
    Column("as_of", Date, nullable=True),  # the published profile / segment run the target was read from
    Column("created_at", UTCDateTime, nullable=False),
    Column("assigned_at", UTCDateTime, nullable=True),
    Column("launched_at", UTCDateTime, nullable=True),  # start of the attribution window
    Index("uq_campaigns_name", "name", unique=True),
)

campaign_members = Table(
    "campaign_members",
    metadata,
    Column("campaign_id", Integer, ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True),
    Column("customer_id", Integer, ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True),
    Column("arm", String(10), nullable=False),
    Column("stratum", String(100), nullable=False),
    Column("active_before", Boolean, nullable=False),  # bought in the attribution-length window before launch
    Column("lapsed", Boolean, nullable=False),  # bought before, but not in the lapse_days before launch
    Column("assigned_at", UTCDateTime, nullable=False),
    Index("ix_campaign_members_campaign_arm", "campaign_id", "arm"),
)

campaign_messages = Table(
    "campaign_messages",
    metadata,
    Column("campaign_id", Integer, ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True),
    Column("customer_id", Integer, ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True),
    Column("channel", String(100), nullable=False),
    Column("status", String(10), nullable=False),  # sent | failed
    Column("at", UTCDateTime, nullable=False),
    Column("provider_id", String(300), nullable=True),
    Column("error", Text, nullable=True),
)
