"""The customer 360 actions: notes, tasks, owner changes and tags — each within the signed-in user's rules,
CSRF-checked, validated with the field named, audited with the acting user, and shown on the page."""

from __future__ import annotations

from sqlalchemy import select
from web_testkit import WebEnv, csrf_of

from kehu.store.actions import audit_log, tasks
from kehu.store.notes import customer_notes
from kehu.store.schema import customers


def _audit(web: WebEnv, customer_id: int) -> list[tuple[str, str]]:
    with web.ws.engine.connect() as conn:
        rows = conn.execute(
            select(audit_log.c.actor, audit_log.c.action).where(audit_log.c.customer_id == customer_id)
        ).all()
    return [(r.actor, r.action) for r in rows]


def _customer(web: WebEnv, customer_id: int) -> dict[str, object]:
    with web.ws.engine.connect() as conn:
        return dict(conn.execute(select(customers).where(customers.c.id == customer_id)).mappings().one())


def test_a_rep_adds_a_note_a_task_and_tags_on_own_customer_and_sees_them(web: WebEnv) -> None:
    rep = web.login("rep_a")
    cid = web.owned["rep_a"]
    page = rep.get(f"/customers/{cid}", headers={"Accept-Language": "zh-CN"})
    assert page.status_code == 200 and "添加备注" in page.text and "创建任务" in page.text
    assert 'id="owner-form"' not in page.text  # reps do not change owners
    token = csrf_of(page.text)
    r = rep.post(
        f"/customers/{cid}/notes",
        data={"csrf_token": token, "body": "电话沟通：下月续约\n<script>x</script>"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == f"/customers/{cid}?done=note#notes"
    r = rep.post(
        f"/customers/{cid}/tasks",
        data={"csrf_token": token, "title": "回访续约", "due_date": "2030-01-31", "priority": "high"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert rep.post(f"/customers/{cid}/tags", data={"csrf_token": token, "tag": "续约关注"}).status_code == 200
    with web.ws.engine.connect() as conn:
        task = conn.execute(select(tasks).where(tasks.c.customer_id == cid, tasks.c.title == "回访续约")).one()
        note = conn.execute(select(customer_notes).where(customer_notes.c.customer_id == cid)).one()
    assert task.assignee_id == web.accounts["rep_a"].id and task.priority == "high" and task.playbook is None
    assert str(task.due_date) == "2030-01-31" and task.status == "open"
    assert note.author_id == web.accounts["rep_a"].id and note.body.startswith("电话沟通")
    assert "续约关注" in _customer(web, cid)["tags"]  # type: ignore[operator]
    name = web.accounts["rep_a"].name
    assert {(name, "note.add"), (name, "task.create"), (name, "tag.change")} <= set(_audit(web, cid))

    shown = rep.get(f"/customers/{cid}?done=note", headers={"Accept-Language": "zh-CN"}).text
    assert "已添加备注" in shown and "电话沟通：下月续约" in shown and "回访续约" in shown and "续约关注" in shown
    assert "<script>x</script>" not in shown and "&lt;script&gt;x&lt;/script&gt;" in shown
    data = rep.get(f"/customers/{cid}.json").json()
    assert data["actions"]["notes"][0]["body"].startswith("电话沟通")
    assert any(t["title"] == "回访续约" for t in data["actions"]["tasks"])
    assert {"points", "tier"} <= set(data["actions"]["loyalty"])
    assert any(a["action"] == "note.add" for a in data["actions"]["activity"])

    removed = rep.post(f"/customers/{cid}/tags", data={"csrf_token": token, "remove": "续约关注"})
    assert removed.status_code == 200 and "续约关注" not in _customer(web, cid)["tags"]  # type: ignore[operator]


def test_bad_input_names_the_field_keeps_the_typed_values_and_stores_nothing(web: WebEnv) -> None:
    rep = web.login("rep_a")
    cid = web.owned["rep_a"]
    token = csrf_of(rep.get(f"/customers/{cid}").text)
    before = _audit(web, cid)
    empty = rep.post(f"/customers/{cid}/notes", data={"csrf_token": token, "body": "   "})
    assert empty.status_code == 422 and "note: must not be empty" in empty.text
    bad_day = rep.post(f"/customers/{cid}/tasks", data={"csrf_token": token, "title": "keep me", "due_date": "31/01"})
    assert bad_day.status_code == 422 and "due_date" in bad_day.text and 'value="keep me"' in bad_day.text
    bad_priority = rep.post(f"/customers/{cid}/tasks", data={"csrf_token": token, "title": "x", "priority": "asap"})
    assert bad_priority.status_code == 422 and "priority" in bad_priority.text
    script_tag = rep.post(f"/customers/{cid}/tags", data={"csrf_token": token, "tag": "<script>alert(1)</script>"})
    assert script_tag.status_code == 422 and "<script>alert(1)</script>" not in script_tag.text
    long_tag = rep.post(f"/customers/{cid}/tags", data={"csrf_token": token, "tag": "x" * 41})
    assert long_tag.status_code == 422 and "at most 40" in long_tag.text
    assert _audit(web, cid) == before
    no_csrf = rep.post(f"/customers/{cid}/notes", data={"body": "hello"})
    assert no_csrf.status_code == 403
    with web.ws.engine.connect() as conn:
        assert conn.execute(select(customer_notes).where(customer_notes.c.customer_id == cid)).first() is None


def test_row_level_rules_hold_for_every_action(web: WebEnv) -> None:
    rep = web.login("rep_a")
    token = csrf_of(rep.get(f"/customers/{web.owned['rep_a']}").text)
    foreign = web.owned["other_rep"]
    for path, form in (("notes", {"body": "x"}), ("tasks", {"title": "x"}), ("tags", {"tag": "x"})):
        r = rep.post(f"/customers/{foreign}/{path}", data={"csrf_token": token, **form})
        assert r.status_code == 403, path
    own = web.owned["rep_a"]
    assert (
        rep.post(
            f"/customers/{own}/owner", data={"csrf_token": token, "owner_id": web.accounts["rep_b"].id}
        ).status_code
        == 403
    )
    to_colleague = rep.post(
        f"/customers/{own}/tasks", data={"csrf_token": token, "title": "x", "assignee_id": web.accounts["rep_b"].id}
    )
    assert to_colleague.status_code == 403
    assert _customer(web, own)["owner_id"] == web.accounts["rep_a"].id
    assert _audit(web, foreign) == [] or all(actor != web.accounts["rep_a"].name for actor, _ in _audit(web, foreign))


def test_a_manager_reassigns_within_the_team_and_an_admin_anywhere(web: WebEnv) -> None:
    manager = web.login("manager")
    cid = web.owned["rep_a"]
    page = manager.get(f"/customers/{cid}").text
    assert 'id="owner-form"' in page
    token = csrf_of(page)
    outsider = web.accounts["other_rep"].id
    refused = manager.post(f"/customers/{cid}/owner", data={"csrf_token": token, "owner_id": outsider})
    assert refused.status_code == 403
    unknown = manager.post(f"/customers/{cid}/owner", data={"csrf_token": token, "owner_id": 987654})
    assert unknown.status_code == 422 and "no user with id 987654" in unknown.text
    moved = manager.post(
        f"/customers/{cid}/owner",
        data={"csrf_token": token, "owner_id": web.accounts["rep_b"].id},
        follow_redirects=False,
    )
    assert moved.status_code == 303 and _customer(web, cid)["owner_id"] == web.accounts["rep_b"].id
    assert (web.accounts["manager"].name, "owner.change") in _audit(web, cid)
    # the customer left rep_a's scope and entered rep_b's
    assert web.login("rep_a").get(f"/customers/{cid}").status_code == 403
    assert web.login("rep_b").get(f"/customers/{cid}").status_code == 200
    admin = web.login("admin")
    token = csrf_of(admin.get(f"/customers/{cid}").text)
    task = admin.post(
        f"/customers/{cid}/tasks",
        data={"csrf_token": token, "title": "Escalation", "assignee_id": outsider},
        follow_redirects=False,
    )
    assert task.status_code == 303
    with web.ws.engine.connect() as conn:
        assert conn.execute(select(tasks.c.assignee_id).where(tasks.c.title == "Escalation")).scalar_one() == outsider
