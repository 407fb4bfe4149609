"""The settings page: admins see every setting with its variable, value and default, secrets never."""

from __future__ import annotations

from pathlib import Path

from web_testkit import WebEnv

from kehu.config import load_settings
from kehu.service.access import Principal
from kehu.service.workspace import Workspace


def test_admins_see_every_setting_and_the_system_state(web: WebEnv) -> None:
    admin = web.login("admin")
    page = admin.get("/settings", headers={"Accept-Language": "zh-CN"})
    assert page.status_code == 200 and "环境变量" in page.text and "KEHU_TIMEZONE" in page.text
    data = admin.get("/settings.json").json()
    names = {r["name"] for r in data["settings"]}
    assert {"home", "database_url", "timezone", "currency", "smtp_password", "webhooks"} <= names
    assert data["system"]["revision"] == data["system"]["head"]
    assert data["system"]["customers"] > 0 and data["system"]["published_as_of"]
    for who in ("manager", "rep_a"):
        assert web.login(who).get("/settings").status_code == 403
        assert 'href="/settings"' not in web.login(who).get("/dashboard").text


def test_secrets_are_masked(tmp_path: Path, web: WebEnv) -> None:
    settings = load_settings(
        home=web.home,
        smtp_password="hunter2-very-secret",
        webhooks={"sales": "http://127.0.0.1:9/robot/send?access_token=abcdef123"},
    )
    ws = Workspace(settings)
    try:
        admin = web.accounts["admin"]
        system = ws.as_user(Principal(admin.id, admin.name, admin.name, "admin", None, None)).system
        data = {"settings": system.settings(), "system": system.state()}
    finally:
        ws.close()
    rows = {r["name"]: r for r in data["settings"]}
    text = repr(data)
    assert "hunter2" not in text and "abcdef123" not in text and "access_token" not in text
    assert rows["smtp_password"]["value"] == "••••••" and rows["smtp_password"]["changed"] is True
    assert rows["webhooks"]["value"] == {"sales": "http://127.0.0.1/…"}
