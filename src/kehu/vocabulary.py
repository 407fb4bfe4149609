"""The words every layer shares: order statuses, roles, locales, risk tiers, task and ticket states.

Each is written once here (the foundation layer, next to :mod:`kehu.errors` and :mod:`kehu.config`; it imports
nothing of Kehu) and imported where it is used, so the store, the pipeline, the playbooks and the fronts cannot
disagree on what "a purchase" or "an open task" is.
"""

from __future__ import annotations

__all__ = [
    "CHANNEL_KINDS",
    "LOCALES",
    "NOTIFICATION_KINDS",
    "NOT_LIVE_STATUSES",
    "OPEN_STATES",
    "PERIOD_KINDS",
    "PRIORITIES",
    "PURCHASE_STATUSES",
    "REFUND_STATUSES",
    "RISK_TIERS",
    "ROBOT_FORMATS",
    "ROLES",
    "TASK_OUTCOMES",
    "TASK_STATES",
    "TICKET_STATES",
]

#: order statuses (normalised: trimmed, lower case) that count as a purchase
PURCHASE_STATUSES = ("paid", "completed")
#: order statuses of a refund
REFUND_STATUSES = ("refunded",)
#: order statuses left out of order counts and revenue in the store's figures
NOT_LIVE_STATUSES = ("refunded", "cancelled")

#: user roles, most rights first
ROLES = ("admin", "manager", "rep")
#: the languages of the interface (the first is the default)
LOCALES = ("zh-CN", "en")

#: churn risk tiers, riskiest first (the published score ``churn_tier``)
RISK_TIERS = ("high", "medium", "low")

#: priorities of tasks and tickets, lowest first
PRIORITIES = ("low", "normal", "high", "urgent")
#: states of a task or a ticket that still needs work
OPEN_STATES = ("open", "in_progress")
#: every state of a task
TASK_STATES = (*OPEN_STATES, "done", "cancelled")
#: every state of a ticket
TICKET_STATES = (*OPEN_STATES, "resolved", "closed")
#: how a finished follow-up task went
TASK_OUTCOMES = ("reached", "no_answer", "won_back", "lost", "not_interested")

#: calendar periods of KPI reports
PERIOD_KINDS = ("week", "month", "quarter", "year")
#: message channels a campaign or a playbook sends through
CHANNEL_KINDS = ("email", "sms", "webhook", "file")

#: what a user's notifications tell them of: a task given to them, their tasks due today, their overdue tasks, a
#: ticket of theirs past its SLA target, something waiting for their approval (nothing asks for approvals yet)
NOTIFICATION_KINDS = ("task_assigned", "tasks_due", "tasks_overdue", "ticket_sla", "approval")
#: the group robots a daily digest can be posted to through a webhook
ROBOT_FORMATS = ("wecom", "dingtalk")
