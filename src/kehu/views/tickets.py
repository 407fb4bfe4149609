"""The tickets pages' data (and their JSON twins, which the REST API also answers with) from the tickets service
(:class:`kehu.service.tickets.TicketService`): the list with its filters, cursor and filter choices, and one
ticket with the choices of its change form."""

from __future__ import annotations

from typing import Any

from kehu.vocabulary import PRIORITIES, TICKET_STATES

__all__ = ["ticket_page", "tickets_page"]


def tickets_page(found: dict[str, Any], *, filters: dict[str, str], before: int | None) -> dict[str, Any]:
    """A page of tickets (:meth:`~kehu.service.tickets.TicketService.page`) with the ``filters`` it was asked
    with (as query parameters), the ``before`` cursor it started at and ``next_before``, where the next page
    starts (``None`` on the last page), and the statuses and priorities to filter by."""
    rows = found["tickets"]
    page = {k: v for k, v in found.items() if k != "more"}
    return {
        **page,
        "filters": filters,
        "before": before,
        "next_before": rows[-1]["id"] if found["more"] and rows else None,
        "statuses": list(TICKET_STATES),
        "priorities": list(PRIORITIES),
    }


def ticket_page(ticket: dict[str, Any]) -> dict[str, Any]:
    """One ticket (:meth:`~kehu.service.tickets.TicketService.view`) with the statuses and priorities its change
    form offers."""
    return {**ticket, "statuses": list(TICKET_STATES), "priorities": list(PRIORITIES)}
