"""The notification centre (通知): the signed-in user's notifications, newest first, with links, mark read and
mark all read; and the daily-digest form of the account page.

Thin routes over the notifications service of the facade (:mod:`kehu.service.notifications`), which only ever
reads and changes the principal's own notifications. The bell in every page's header is counted by
:func:`kehu.web.render.render`.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from kehu.errors import ValidationError
from kehu.web.pages import Actor, Post, _account_page, _optional_int
from kehu.web.render import render, translator

__all__ = ["router"]

#: Routes of the notification centre (not part of the OpenAPI schema; the API has ``/api/notifications``).
router = APIRouter(include_in_schema=False)


@router.get("/notifications")
@router.get("/notifications.json")
def notifications(request: Request, actor: Actor) -> Response:
    p = request.query_params
    data = actor.notifications.page(
        unread_only=p.get("unread") == "1", before=_optional_int(p.get("before"), "before"),
        locale=translator(request).locale,
    )  # fmt: skip
    return render(request, "notifications.html", data, context={"request_before": p.get("before")})


def _back(target: str) -> str:
    """Where to go after marking: the centre with the same view (never another site)."""
    if target.startswith("/notifications") and not target.startswith("//") and "\\" not in target:
        return target
    return "/notifications"


@router.post("/notifications/{notification_id:id}/read")
def read_one(request: Request, post: Post, actor: Actor, notification_id: int) -> Response:
    done = actor.notifications.mark_read(notification_id)
    target = done["link"] if post.text("open") == "1" else _back(post.text("next"))
    if not target.startswith("/") or target.startswith("//"):
        target = "/notifications"
    return RedirectResponse(target, status_code=303)


@router.post("/notifications/read-all")
def read_all(request: Request, post: Post, actor: Actor) -> Response:
    actor.notifications.mark_all_read()
    return RedirectResponse(_back(post.text("next")), status_code=303)


@router.post("/account/digest")
def digest_settings(request: Request, post: Post, actor: Actor) -> Response:
    try:
        actor.notifications.save_digest_settings(
            email=post.text("email") == "1", webhook=post.text("webhook") or None,
            webhook_format=post.text("webhook_format") or "wecom", digest_at=post.text("digest_at") or None,
        )  # fmt: skip
    except ValidationError as exc:
        t = translator(request)
        return _account_page(request, post.session, error=t("errors.invalid", message=str(exc)), status=422)
    return RedirectResponse("/account?saved=digest#digest", status_code=303)
