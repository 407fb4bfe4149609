"""The customer 360 page's actions: add a note, create a task, change the owner, add or remove a tag.

Every route is a CSRF-checked form post (the :data:`~kehu.web.pages.Post` dependency) over the customers service of
the facade (:mod:`kehu.service.customers`), which applies the row-level rules. Success redirects back to the page
(303, so a reload does not post twice) with ``done=`` naming what happened; a validation error renders the page
again with the message next to the form and the typed values kept (422).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.exc import SQLAlchemyError

from kehu.errors import StoreBusyError, ValidationError
from kehu.i18n import error_text
from kehu.store.failures import translate_store_error
from kehu.web.pages import Actor, Post, _optional_int, with_figures
from kehu.web.render import locale_for, render, workspace

__all__ = ["router"]


#: Routes of the customer 360 actions (not part of the OpenAPI schema).
router = APIRouter(include_in_schema=False)


def _back(customer_id: int, done: str, anchor: str) -> RedirectResponse:
    return RedirectResponse(f"/customers/{customer_id}?done={done}#{anchor}", status_code=303)


def _again(request: Request, post: Any, customer_id: int, form: str, error: str) -> Response:
    actor = workspace(request).as_user(post.session.principal)
    data = with_figures(request, actor.customers.view(customer_id))
    values = {k: v for k, v in post.form.items() if k != "csrf_token" and isinstance(v, str)}
    return render(
        request,
        "customer.html",
        data,
        context={"done": None, "form_error": {"form": form, "message": error, "values": values}},
        status_code=422,
    )


@router.post("/customers/{customer_id:id}/notes")
def add_note(request: Request, post: Post, actor: Actor, customer_id: int) -> Response:
    try:
        actor.customers.add_note(customer_id, post.text("body"))
    except ValidationError as exc:
        return _again(request, post, customer_id, "note", str(exc))
    except SQLAlchemyError as exc:  # the store stayed locked by an import's writes: keep the typed note, say retry
        busy = translate_store_error(exc)
        if not isinstance(busy, StoreBusyError):
            raise
        return _again(request, post, customer_id, "note", error_text(busy, locale_for(request)))
    return _back(customer_id, "note", "notes")


@router.post("/customers/{customer_id:id}/tasks")
def create_task(request: Request, post: Post, actor: Actor, customer_id: int) -> Response:
    try:
        actor.customers.create_task(
            customer_id,
            title=post.text("title"),
            body=post.text("body") or None,
            due_date=post.text("due_date") or None,
            priority=post.text("priority") or "normal",
            assignee_id=_optional_int(post.text("assignee_id") or None, "assignee_id"),
        )
    except ValidationError as exc:
        return _again(request, post, customer_id, "task", str(exc))
    return _back(customer_id, "task", "customer-tasks")


@router.post("/customers/{customer_id:id}/owner")
def change_owner(request: Request, post: Post, actor: Actor, customer_id: int) -> Response:
    try:
        owner = _optional_int(post.text("owner_id") or None, "owner_id")
        if owner is None:
            raise ValidationError("owner_id: choose the new owner")
        actor.customers.change_owner(customer_id, owner)
    except ValidationError as exc:
        return _again(request, post, customer_id, "owner", str(exc))
    return _back(customer_id, "owner", "profile")


@router.post("/customers/{customer_id:id}/tags")
def change_tags(request: Request, post: Post, actor: Actor, customer_id: int) -> Response:
    try:
        if post.text("remove"):
            actor.customers.remove_tag(customer_id, post.text("remove"))
        else:
            actor.customers.add_tag(customer_id, post.text("tag"))
    except ValidationError as exc:
        return _again(request, post, customer_id, "tag", str(exc))
    return _back(customer_id, "tag", "profile")
