"""How the demo customers engage: interactions that fade before churn, tickets and complaints that precede
some churn, and NPS / CSAT surveys whose scores follow satisfaction and the approach of churn."""

from __future__ import annotations

import numpy as np

from kehu.demo.activity import Table, take
from kehu.demo.catalog import B2B_NOTES, B2B_TOPICS, B2C_TOPICS, COMMENTS, COMPLAINT_TOPICS, RISK_NOTES
from kehu.demo.population import Population
from kehu.demo.seasons import Timeline, homogeneous_events, seasonal_events, time_of_day

__all__ = ["make_feedback", "make_interactions", "make_tickets"]

# (type, channel, weight) of inbound interactions, for consumers and for business accounts.
_B2C_INBOUND = (
    ("login", "APP", 0.34),
    ("login", "小程序", 0.18),
    ("visit", "门店", 0.12),
    ("visit", "官网", 0.08),
    ("chat", "微信", 0.14),
    ("call", "客服热线", 0.05),
    ("review", "天猫", 0.06),
    ("referral", "微信", 0.03),
)
_B2B_INBOUND = (
    ("call", "电话", 0.28),
    ("visit", "上门拜访", 0.14),
    ("email", "邮件", 0.22),
    ("meeting", "线下会议", 0.06),
    ("meeting", "腾讯会议", 0.06),
    ("chat", "企业微信", 0.14),
    ("login", "企业采购平台", 0.10),
)
_CAMPAIGN = (("短信", 0.4), ("APP推送", 0.35), ("公众号", 0.25))
_FADE_DAYS = 120.0
_AGENTS = ("客服-周丽", "客服-陈晨", "客服-刘洋", "客服-黄婷", "客服-孙浩", "客服-吴敏", "客服-郑凯", "客服-马琳")


def fade(t: np.ndarray, churn: np.ndarray) -> np.ndarray:
    """Engagement multiplier: 1 until ``_FADE_DAYS`` before churn, then falling to 0.12 at churn, 0.03 after."""
    before = np.clip((churn - t) / _FADE_DAYS, 0.0, 1.0)
    return np.where(t >= churn, 0.03, 0.12 + 0.88 * before)


def _draw(rng: np.random.Generator, table: tuple[tuple[str, str, float], ...], n: int) -> tuple[np.ndarray, ...]:
    w = np.array([row[2] for row in table])
    k = rng.choice(len(table), size=n, p=w / w.sum())
    return (np.array([r[0] for r in table], dtype=object)[k], np.array([r[1] for r in table], dtype=object)[k])


def make_interactions(rng: np.random.Generator, pop: Population, timeline: Timeline) -> Table:
    """Inbound interactions (thinned by :func:`fade`) and outbound campaign touches, sorted by time.

    Columns: ``cust``, ``t``, ``type`` (canonical), ``channel``, ``note`` (None or text).
    """
    horizon = float(timeline.n_days)
    engage = rng.gamma(2.0, 0.5, pop.n)
    rate = np.where(pop.is_b2b, 0.07, 0.012 + 0.7 * pop.rate) * engage
    owner, t = homogeneous_events(rng, rate, pop.signup, np.full(pop.n, horizon))
    keep = rng.random(t.size) < fade(t, pop.churn[owner])
    cust, t = owner[keep], t[keep]
    b2b = pop.is_b2b[cust]
    t = np.where(b2b, time_of_day(rng, t, office=True), time_of_day(rng, t))
    kind, channel = np.empty(cust.size, dtype=object), np.empty(cust.size, dtype=object)
    kind[~b2b], channel[~b2b] = _draw(rng, _B2C_INBOUND, int((~b2b).sum()))
    kind[b2b], channel[b2b] = _draw(rng, _B2B_INBOUND, int(b2b.sum()))
    note = np.full(cust.size, None, dtype=object)
    noted = b2b & np.isin(kind, ("call", "visit", "meeting"))
    risky = noted & (pop.churn[cust] - t < _FADE_DAYS) & (rng.random(cust.size) < 0.6)
    note[noted] = np.array(B2B_NOTES, dtype=object)[rng.integers(0, len(B2B_NOTES), int(noted.sum()))]
    note[risky] = np.array(RISK_NOTES, dtype=object)[rng.integers(0, len(RISK_NOTES), int(risky.sum()))]

    # Campaigns follow the promotion calendar.
    # A campaign row is a touch the customer engaged with (opened, clicked), so it fades too, more gently.
    c_owner, c_t = seasonal_events(rng, np.full(pop.n, 1 / 45), pop.signup, np.full(pop.n, horizon), timeline.cum_promo)
    c_keep = rng.random(c_t.size) < 0.25 + 0.75 * fade(c_t, pop.churn[c_owner])
    c_owner, c_t = c_owner[c_keep], time_of_day(rng, c_t[c_keep], office=True)
    names = np.array([c for c, _ in _CAMPAIGN], dtype=object)
    c_channel = names[rng.choice(len(_CAMPAIGN), size=c_owner.size, p=[w for _, w in _CAMPAIGN])]
    c_channel = np.where(pop.is_b2b[c_owner], "邮件", c_channel)

    out = {
        "cust": np.concatenate([cust, c_owner]),
        "t": np.minimum(np.concatenate([t, c_t]), np.nextafter(horizon, 0)),
        "type": np.concatenate([kind, np.full(c_owner.size, "campaign", dtype=object)]),
        "channel": np.concatenate([channel, c_channel.astype(object)]),
        "note": np.concatenate([note, np.full(c_owner.size, None, dtype=object)]),
    }
    out = take(out, np.lexsort((out["cust"], out["t"])))
    return out


def make_tickets(rng: np.random.Generator, pop: Population, timeline: Timeline) -> Table:
    """Support tickets: a background rate while active, plus complaints in the months before some churn.

    Columns: ``cust``, ``opened``, ``first_response``, ``resolved`` (float days or nan), ``topic``,
    ``priority`` (low/normal/high/urgent), ``status`` (open/in_progress/resolved/closed), ``complaint``
    (bool), ``satisfaction`` (1-5 or 0 = not rated), ``assignee``.
    """
    horizon = float(timeline.n_days)
    rate = np.where(pop.is_b2b, 1.5, 0.12 + 20 * pop.rate) / 365
    active_end = np.minimum(pop.churn, horizon)
    owner, t = homogeneous_events(rng, rate, pop.signup, active_end)
    pre = np.flatnonzero(pop.churned & (rng.random(pop.n) < 1 / (1 + np.exp(0.9 * pop.z + 0.4))))
    pre = np.repeat(pre, rng.integers(1, 3, pre.size))
    pre_t = pop.churn[pre] - rng.uniform(5, 90, pre.size)
    ok = pre_t > pop.signup[pre]
    cust = np.concatenate([owner, pre[ok]])
    opened = time_of_day(rng, np.concatenate([t, pre_t[ok]]), office=True)
    before_churn = np.concatenate([np.zeros(owner.size, bool), np.ones(int(ok.sum()), bool)])
    n = cust.size
    complaint = np.where(before_churn, rng.random(n) < 0.7, rng.random(n) < 0.08)
    prio_names = np.array(["low", "normal", "high", "urgent"], dtype=object)
    prio = np.where(complaint, rng.choice(4, n, p=[0.0, 0.3, 0.5, 0.2]), rng.choice(4, n, p=[0.25, 0.55, 0.17, 0.03]))
    slow = np.where(before_churn, 2.2, 1.0)
    resp_h = rng.lognormal(np.log(np.array([16.0, 6.0, 2.0, 0.5])[prio] * slow), 0.8)
    solve_h = rng.lognormal(np.log(np.array([72.0, 48.0, 24.0, 6.0])[prio] * slow), 1.0)
    first_response = opened + resp_h / 24
    resolved = first_response + solve_h / 24
    status = np.where(
        resolved < horizon,
        np.where(rng.random(n) < 0.8, "closed", "resolved"),
        np.where(first_response < horizon, "in_progress", "open"),
    ).astype(object)
    first_response = np.where(first_response < horizon, first_response, np.nan)
    resolved = np.where(resolved < horizon, resolved, np.nan)
    sat = 4.2 + 0.5 * pop.z[cust] - 1.4 * complaint - 0.35 * np.log1p(solve_h / 24) + rng.normal(0, 0.7, n)
    rated = np.isfinite(resolved) & (rng.random(n) < 0.6)
    satisfaction = np.where(rated, np.clip(np.round(sat), 1, 5), 0).astype(np.int64)
    b2b = pop.is_b2b[cust]
    topic = np.where(
        b2b,
        np.array(B2B_TOPICS, dtype=object)[rng.integers(0, len(B2B_TOPICS), n)],
        np.array(B2C_TOPICS, dtype=object)[rng.integers(0, len(B2C_TOPICS), n)],
    )
    topic = np.where(
        complaint & ~b2b, np.array(COMPLAINT_TOPICS, dtype=object)[rng.integers(0, len(COMPLAINT_TOPICS), n)], topic
    )
    out = {
        "cust": cust,
        "opened": np.minimum(opened, np.nextafter(horizon, 0)),
        "first_response": first_response,
        "resolved": resolved,
        "topic": topic,
        "priority": prio_names[prio],
        "status": status,
        "complaint": complaint,
        "satisfaction": satisfaction,
        "assignee": np.array(_AGENTS, dtype=object)[rng.integers(0, len(_AGENTS), n)],
    }
    out = take(out, np.lexsort((out["cust"], out["opened"])))
    return out


def make_feedback(rng: np.random.Generator, pop: Population, timeline: Timeline, orders: Table) -> Table:
    """NPS surveys (0-10) every few months while customers are around, and CSAT (1-5) after some orders.

    Columns: ``cust``, ``t``, ``kind`` (nps/csat), ``score``, ``comment`` (None or text).
    """
    horizon = float(timeline.n_days)
    invite_end = np.minimum(pop.churn + 45, horizon)
    respond = np.where(pop.is_b2b, 0.45, 0.22) / 120
    owner, t = homogeneous_events(rng, respond, pop.signup + 14, invite_end)
    near = np.clip(1 - (pop.churn[owner] - t) / 180, 0, 1)
    nps = np.clip(np.round(7.6 + 1.5 * pop.z[owner] - 3.0 * near + rng.normal(0, 1.3, t.size)), 0, 10)

    done = np.flatnonzero(orders["status"] == "completed")
    asked = done[rng.random(done.size) < 0.04]
    c_cust = orders["cust"][asked]
    c_t = orders["t"][asked] + rng.uniform(1, 8, asked.size)
    c_near = np.clip(1 - (pop.churn[c_cust] - c_t) / 180, 0, 1)
    csat = np.clip(np.round(4.2 + 0.6 * pop.z[c_cust] - 0.8 * c_near + rng.normal(0, 0.6, asked.size)), 1, 5)
    keep = c_t < horizon

    cust = np.concatenate([owner, c_cust[keep]])
    when = time_of_day(rng, np.concatenate([t, c_t[keep]]))
    kind = np.concatenate([np.full(owner.size, "nps", dtype=object), np.full(int(keep.sum()), "csat", dtype=object)])
    score = np.concatenate([nps, csat[keep]]).astype(np.int64)
    band = np.where(kind == "nps", np.digitize(score, [7, 9]), np.digitize(score, [3, 5]))
    comment = np.full(cust.size, None, dtype=object)
    for b in range(3):
        rows = np.flatnonzero((band == b) & (rng.random(cust.size) < 0.35))
        comment[rows] = np.array(COMMENTS[b], dtype=object)[rng.integers(0, len(COMMENTS[b]), rows.size)]
    out = {
        "cust": cust,
        "t": np.minimum(when, np.nextafter(horizon, 0)),
        "kind": kind,
        "score": score,
        "comment": comment,
    }
    out = take(out, np.lexsort((out["cust"], out["t"])))
    return out
