"""Tickets: SLA targets per priority and breach detection, assignment rules (owner, round robin by topic or team)."""

from kehu.tickets.policy import SLA_KINDS, AssignmentPolicy, SlaTarget, TicketPolicy, breaches, choose_assignee

__all__ = ["SLA_KINDS", "AssignmentPolicy", "SlaTarget", "TicketPolicy", "breaches", "choose_assignee"]
