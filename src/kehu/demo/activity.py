"""What the demo customers buy: orders (B2C and B2B) and B2B yearly contracts with renewals.

Tables are dicts of equal-length numpy arrays; ``cust`` is the customer index into the
:class:`~kehu.demo.population.Population`, times are float days since the timeline start.
"""

from __future__ import annotations

import numpy as np

from kehu.demo.catalog import B2B_PRODUCTS, ORDER_CHANNELS, PRODUCTS
from kehu.demo.population import ARCHETYPES, Population
from kehu.demo.seasons import Timeline, homogeneous_events, seasonal_events, time_of_day

__all__ = ["Table", "make_contracts", "make_orders", "take"]

Table = dict[str, np.ndarray]

_TIERS = np.array([a.tiers for a in ARCHETYPES])
_PROMO = np.array([a.promo for a in ARCHETYPES])
_KEY = np.array([a.name == "key_account" for a in ARCHETYPES])
_CHANNELS = np.array(sorted(set(ORDER_CHANNELS)), dtype=object)


def take(table: Table, idx: np.ndarray) -> Table:
    """Rows ``idx`` of every column."""
    return {k: v[idx] for k, v in table.items()}


def _concat(*tables: Table) -> Table:
    return {k: np.concatenate([t[k] for t in tables]) for k in tables[0]}


def _season_group(day: np.ndarray, timeline: Timeline) -> np.ndarray:
    """0: 春节 gift season (Dec-Feb), 1: 中秋 season (Aug-Sep), 2: the rest."""
    month = (np.datetime64(timeline.start, "D") + day).astype("datetime64[M]").astype(int) % 12 + 1
    return np.where(np.isin(month, (12, 1, 2)), 0, np.where(np.isin(month, (8, 9)), 1, 2))


def _pick_products(rng: np.random.Generator, tier: np.ndarray, group: np.ndarray) -> np.ndarray:
    """A product per order from the customer's price tier, favouring gift boxes in their season."""
    out = np.empty(tier.size, dtype=np.int64)
    for t in range(3):
        for g in range(3):
            rows = np.flatnonzero((tier == t) & (group == g))
            cand = [i for i, p in enumerate(PRODUCTS) if p.tier == t]
            w = np.ones(len(cand))
            for j, i in enumerate(cand):
                name = PRODUCTS[i].name
                if "春节" in name:
                    w[j] = 6.0 if g == 0 else 0.1
                elif "中秋" in name:
                    w[j] = 6.0 if g == 1 else 0.1
            out[rows] = np.array(cand)[rng.choice(len(cand), size=rows.size, p=w / w.sum())]
    return out


def _b2c_orders(rng: np.random.Generator, pop: Population, timeline: Timeline) -> Table:
    horizon = float(timeline.n_days)
    has_first = np.flatnonzero(np.isfinite(pop.first_purchase) & ~pop.is_b2b)
    end = np.minimum(pop.churn, horizon)
    parts_c, parts_t = [has_first], [pop.first_purchase[has_first]]  # first orders keep their exact time
    for promo in (False, True):
        who = np.flatnonzero(np.isfinite(pop.first_purchase) & ~pop.is_b2b & (_PROMO[pop.arch] == promo))
        cum = timeline.cum_promo if promo else timeline.cum_season
        owner, t = seasonal_events(rng, pop.rate[who], pop.first_purchase[who], end[who], cum)
        parts_c.append(who[owner])
        t, first = time_of_day(rng, t), pop.first_purchase[who[owner]]
        parts_t.append(np.where(t <= first, first + rng.uniform(0.05, 0.3, t.size), t))
    cust = np.concatenate(parts_c)
    t = np.concatenate(parts_t)
    t = np.where(t >= horizon, np.nextafter(horizon, 0), t)
    n = cust.size
    day = timeline.day_of(t)

    tiers = _TIERS[pop.arch[cust]]
    tier = (rng.random(n)[:, None] > np.cumsum(tiers, axis=1)).sum(axis=1).clip(0, 2)
    product = _pick_products(rng, tier, _season_group(day, timeline))
    price = np.array([round(p.price * 100) for p in PRODUCTS], dtype=np.int64)[product]
    margin_rate = np.array([p.margin for p in PRODUCTS])[product]
    snack = np.array([p.category == "茶点" for p in PRODUCTS])[product]
    qty = np.minimum(rng.geometric(0.72, n), 6) + snack * rng.integers(0, 3, n)
    gross = price * qty

    promo_day = timeline.is_promo[day]
    hunter = _PROMO[pop.arch[cust]]
    gets = np.where(promo_day, rng.random(n) < 0.8, rng.random(n) < 0.25)
    rate = np.where(promo_day, rng.uniform(0.08, 0.25, n), rng.uniform(0.05, 0.12, n)) * np.where(hunter, 1.3, 1.0)
    discount = np.where(gets, np.round(gross * rate / 100) * 100, 0).astype(np.int64)
    amount = gross - discount
    margin = np.round(gross * margin_rate).astype(np.int64) - discount

    # Status: refunds and cancellations (more among dissatisfied customers); recent orders still open.
    z = pop.z[cust]
    u = rng.random(n)
    refund_p = 0.025 + 0.02 * (z < -1)
    age = horizon - t
    status = np.where(u < refund_p, "refunded", np.where(u < refund_p + 0.015, "cancelled", "completed"))
    status = np.where((status == "completed") & (age < 6) & (rng.random(n) < 0.7), "paid", status)
    status = np.where((age < 1) & (rng.random(n) < 0.15), "pending", status)
    paid = np.where(np.isin(status, ("cancelled", "pending")), np.nan, t + rng.uniform(20, 1500, n) / 86_400)
    paid = np.where(paid < horizon, paid, np.nan)
    pref = np.array(ORDER_CHANNELS, dtype=object)[pop.channel[cust]]
    channel = np.where(rng.random(n) < 0.75, pref, _CHANNELS[rng.integers(0, _CHANNELS.size, n)])
    return {
        "cust": cust,
        "t": t,
        "amount": amount,
        "margin": margin,
        "discount": discount,
        "qty": qty,
        "product": np.array([p.name for p in PRODUCTS], dtype=object)[product],
        "category": np.array([p.category for p in PRODUCTS], dtype=object)[product],
        "channel": channel.astype(object),
        "status": status.astype(object),
        "paid": paid,
    }


def _b2b_orders(rng: np.random.Generator, pop: Population, timeline: Timeline) -> Table:
    horizon = float(timeline.n_days)
    who = np.flatnonzero(pop.is_b2b & np.isfinite(pop.first_purchase))
    owner, t = homogeneous_events(rng, pop.rate[who], pop.first_purchase[who], np.minimum(pop.churn[who], horizon))
    cust = who[owner]
    t = np.minimum(time_of_day(rng, t, office=True), np.nextafter(horizon, 0))
    n = cust.size
    key = _KEY[pop.arch[cust]]
    product = rng.choice(len(B2B_PRODUCTS), size=n, p=[0.55, 0.2, 0.15, 0.1])
    base = np.array([p.price for p in B2B_PRODUCTS])[product]
    scale = np.where(key, 3.0, 1.0) * rng.lognormal(0.0, 0.35, n)
    unit = np.array([6800.0, 258.0, 3200.0, 168.0])[product]
    qty = np.maximum(1, np.round(base * scale / unit)).astype(np.int64)
    gross = np.round(unit * qty * 100).astype(np.int64)
    bulk = np.where(qty >= 20, rng.uniform(0.08, 0.18, n), 0.0)
    discount = (np.round(gross * bulk / 10_000) * 10_000).astype(np.int64)
    amount = gross - discount
    margin = np.round(gross * np.array([p.margin for p in B2B_PRODUCTS])[product]).astype(np.int64) - discount
    # 回款周期: invoices are paid 15-120 days later (key accounts slower); unpaid ones have no date yet.
    paid = t + rng.gamma(4.0, np.where(key, 14.0, 9.0))
    paid = np.where(paid < horizon, paid, np.nan)
    status = np.where(rng.random(n) < 0.01, "cancelled", "completed").astype(object)
    paid = np.where(status == "cancelled", np.nan, paid)
    return {
        "cust": cust,
        "t": t,
        "amount": amount,
        "margin": margin,
        "discount": discount,
        "qty": qty,
        "product": np.array([p.name for p in B2B_PRODUCTS], dtype=object)[product],
        "category": np.array([p.category for p in B2B_PRODUCTS], dtype=object)[product],
        "channel": np.full(n, "大客户直销", dtype=object),
        "status": status,
        "paid": paid,
    }


def make_orders(rng: np.random.Generator, pop: Population, timeline: Timeline) -> Table:
    """All orders, sorted by time (the files number them ``SO00000001`` … in this order).

    Money columns (``amount``, ``margin``, ``discount``) are integer cents; ``status`` is canonical
    (completed, paid, refunded, cancelled, pending); ``paid`` is the float day of payment or nan.
    """
    orders = _concat(_b2c_orders(rng, pop, timeline), _b2b_orders(rng, pop, timeline))
    order = np.lexsort((orders["cust"], orders["t"]))
    orders = take(orders, order)
    return orders


def make_contracts(rng: np.random.Generator, pop: Population, timeline: Timeline) -> Table:
    """Yearly B2B contracts: one row per term signed by ``as_of`` (renewals link to the term before).

    Columns: ``cust``, ``term`` (0 = first), ``signed``, ``start``, ``end`` (float days; ``end`` is the last
    day), ``value`` (cents), ``status`` (active, renewed, expired, terminated, draft), ``contract_id``,
    ``renewal_of`` (None for first terms).
    """
    horizon = float(timeline.n_days)
    b = np.flatnonzero(pop.is_b2b)
    start0 = pop.contract_start[b]
    max_terms = int(pop.terms[b].max(initial=0))
    cust, term = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
    for j in range(min(max_terms, 64)):
        alive = (pop.terms[b] > j) & (_months(start0, 12 * j, timeline) - 30 <= horizon)
        cust.append(b[alive])
        term.append(np.full(int(alive.sum()), j))
    c, k = np.concatenate(cust), np.concatenate(term)
    start = _months(pop.contract_start[c], 12 * k, timeline)
    end = _months(pop.contract_start[c], 12 * (k + 1), timeline) - 1
    signed = np.where(k == 0, pop.signup[c], start - rng.uniform(5, 28, c.size))
    keep = signed < horizon
    c, k, start, end, signed = c[keep], k[keep], start[keep], end[keep], signed[keep]
    last = k == pop.terms[c] - 1
    terminated = last & pop.terminated[c]
    end = np.where(terminated, pop.churn[c], end)

    key = _KEY[pop.arch[c]]
    base = np.where(key, rng.lognormal(np.log(240_000), 0.45, c.size), rng.lognormal(np.log(48_000), 0.5, c.size))
    base_by_cust = np.zeros(pop.n)
    base_by_cust[c[k == 0]] = base[k == 0]
    growth = rng.uniform(0.95, 1.18, c.size) ** k
    value = (np.round(base_by_cust[c] * growth / 1000) * 1000 * 100).astype(np.int64)

    renewed_next = ~last & (_months(pop.contract_start[c], 12 * (k + 1), timeline) - 28 < horizon)
    status = np.select(
        [terminated & (end < horizon), start >= horizon, end >= horizon, renewed_next],
        ["terminated", "draft", "active", "renewed"],
        "expired",
    ).astype(object)

    order = np.lexsort((c, signed))
    out = {"cust": c, "term": k, "signed": signed, "start": start, "end": end, "value": value, "status": status}
    out = take(out, order)
    year = (np.datetime64(timeline.start, "D") + np.floor(out["signed"]).astype(np.int64)).astype("datetime64[Y]")
    years = year.astype(int) + 1970
    ids = np.array([f"HT{y}-{i:05d}" for i, y in enumerate(years, start=1)], dtype=object)
    out["contract_id"] = ids
    prev = {(int(cc), int(kk)): cid for cc, kk, cid in zip(out["cust"], out["term"], ids, strict=True)}
    out["renewal_of"] = np.array(
        [prev.get((int(cc), int(kk) - 1)) for cc, kk in zip(out["cust"], out["term"], strict=True)], dtype=object
    )
    return out


def _months(t: np.ndarray, months: np.ndarray | int, timeline: Timeline) -> np.ndarray:
    days = np.datetime64(timeline.start, "D") + np.floor(np.nan_to_num(t)).astype(np.int64)
    moved = (days.astype("datetime64[M]") + np.asarray(months)).astype("datetime64[D]")
    return (moved - np.datetime64(timeline.start, "D")).astype(float)
