"""The app store (system of record): SQLAlchemy tables, data functions by data, Alembic migrations.

Every table is declared on :data:`kehu.store.schema.metadata` by the module that owns its data, and every such
module is imported here, so the set of tables never depends on what else happened to be imported (Alembic's
comparison, ``metadata.create_all`` and the store's tests see them all)::

    schema      users, import_runs, customers, customer_records, customer_merges, orders, contracts,
                interactions, tickets, feedback (the ingested data)
    history     order_history, contract_history (the values re-imports replaced, with their validity)
    auth        web_sessions, api_tokens, login_attempts
    published   pipeline_runs, customer_scores, customer_score_history, cohort_snapshots,
                repeat_curve_snapshots, score_writes
    segments    segment_definitions, segment_runs, segment_memberships
    actions     playbook_runs, playbook_firings, outbox, delivery_attempts, tasks, coupons, audit_log
    capacity    task_capacities, backlog
    campaigns   campaigns, campaign_members, campaign_messages
    care        ticket_assignments, ticket_round_robin, ticket_sla_breaches, satisfaction_followups,
                loyalty_ledger, loyalty_tiers, loyalty_tier_changes
    notes       customer_notes
    notifications  notifications, notification_prefs
    refresh     refresh_runs, run_locks (the daily analytics run's record and its lock)

A package's ``__init__`` is run before any of its modules, so ``import kehu.store.schema`` (or any other
``kehu.store`` module) registers all of them. Data functions without tables of their own: ``customers``,
``customer_list``, ``dashboard``, ``imports``; ``db`` opens and migrates a store.
"""

from kehu.store import (
    actions,
    auth,
    campaigns,
    capacity,
    care,
    history,
    notes,
    notifications,
    published,
    refresh,
    schema,
    segments,
)

__all__ = [
    "actions",
    "auth",
    "campaigns",
    "capacity",
    "care",
    "history",
    "notes",
    "notifications",
    "published",
    "refresh",
    "schema",
    "segments",
]
