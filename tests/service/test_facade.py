"""The facade that carries the actor: ``ws.as_user(principal)`` / ``ws.system()`` and the Workspace methods of the
command line going through the same services."""

from __future__ import annotations

import pytest

from kehu.errors import AccessDeniedError, ValidationError
from kehu.service.principal import SYSTEM, Principal
from kehu.service.tasks import TaskService
from kehu.service.users import UserService
from kehu.service.workspace import Workspace


def _principal(ws: Workspace, name: str) -> Principal:
    row = next(u for u in ws.system().users.all() if u["name"] == name)
    return Principal(row["id"], row["name"], row["display_name"], row["role"], row["team"], None)


def test_the_actor_carries_one_service_per_resource(sqlite_workspace: Workspace) -> None:
    actor = sqlite_workspace.system()
    assert actor.principal is SYSTEM and SYSTEM.role == "admin" and SYSTEM.name == "cli"
    assert isinstance(actor.tasks, TaskService) and actor.tasks is actor.tasks
    assert isinstance(actor.users, UserService) and actor.users.principal is SYSTEM


def test_users_are_created_by_one_rule(sqlite_workspace: Workspace) -> None:
    ws = sqlite_workspace
    uid = ws.system().users.add("  wang  ", role="manager", team="east")
    assert [u["name"] for u in ws.system().users.all()] == ["wang"]  # trimmed, as the web and the API create users
    assert ws.system().users.add("wang", role="rep", team="east") == uid  # an existing user is updated
    with pytest.raises(ValidationError, match="role 'boss'"):
        ws.system().users.add("li", role="boss")


def test_a_rep_sees_only_themselves_and_may_not_create_users(sqlite_workspace: Workspace) -> None:
    ws = sqlite_workspace
    ws.system().users.add("zhao", role="rep", team="east")
    ws.system().users.add("qian", role="rep", team="east")
    rep = ws.as_user(_principal(ws, "zhao"))
    assert [u["name"] for u in rep.users.all()] == ["zhao"]
    with pytest.raises(AccessDeniedError):
        rep.users.create("sun", role="rep")
    assert rep.tasks.rows() == []
