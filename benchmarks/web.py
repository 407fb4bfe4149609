"""Benchmark: the web app under load — customers list, search and customer 360 over 1,000,000 customers.

1. Builds a SQLite store with ``--customers`` generated customers (seeded; Chinese names, phones, e-mails,
   companies, regions, owners, tags), one source record each, ``--orders`` orders and ``--interactions``
   interactions. Rows are written with plain ``executemany`` and the indexes built afterwards — the importer has
   its own benchmark (``benchmarks/import_orders.py``); this one measures the pages.
2. Starts ``kehu.web.server.serve`` in a child process on loopback.
3. Signs in (an admin and a rep) and runs ``--clients`` concurrent clients for ``--seconds``; each request is
   one of: a customers-list page (random sort, direction and filter, sometimes following the next-page
   cursor), a search (name, company, phone or e-mail prefix) or a customer 360 page of a random customer.
4. Prints p50/p95/p99 latency per kind and overall, requests per second and errors (any status but 200, 403
   for a rep's foreign customer, or a network error).

Target (issue 9): p95 < 300 ms with 20 clients, zero errors.

Usage::

    .venv/bin/python benchmarks/web.py --customers 1000000 --clients 20 --seconds 60
    .venv/bin/python benchmarks/web.py --home /tmp/kehu-web-bench --reuse   # skip generation the second time
    # the same request mix in-process under cProfile (no server): time per kind, slowest requests, top functions
    # and the costliest SQL statements
    .venv/bin/python benchmarks/web.py --home /tmp/kehu-web-bench --reuse --profile 400 --profile-sql 20
"""

from __future__ import annotations

import argparse
import asyncio
import html
import json
import os
import random
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PASSWORD = "bench-password"
SORTS = ("id", "name", "created", "region", "value", "risk", "last_order", "revenue")


# -- data ----------------------------------------------------------------------------------------------------------
def build_store(home: Path, *, customers: int, orders: int, interactions: int, seed: int) -> dict[str, object]:
    """Create and fill the store; returns facts the load needs (a rep and their customers' id range)."""
    from kehu.config import load_settings
    from kehu.demo.catalog import CITIES, GIVEN, SURNAMES, TEAMS
    from kehu.service import access
    from kehu.service.workspace import Workspace
    from kehu.store.schema import metadata

    started = time.perf_counter()
    ws = Workspace(load_settings(home=home))
    ws.init()
    metadata.create_all(ws.engine)
    access.create_user(ws, "admin", role="admin", password=PASSWORD)
    rep_ids = []
    for t, (team, size) in enumerate(TEAMS):
        access.create_user(ws, f"m{t}", role="manager", team=team, password=PASSWORD)
        for r in range(size * 3):
            rep_ids.append(access.create_user(ws, f"r{t}_{r}", role="rep", team=team, password=PASSWORD))
    db = str(ws.engine.url.database)
    ws.close()

    rng = np.random.default_rng(seed)
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    con.execute("PRAGMA cache_size=-400000")
    tables = ("customers", "customer_records", "orders", "interactions")
    index_sql = [
        sql
        for (sql,) in con.execute(
            f"SELECT sql FROM sqlite_master WHERE type='index' AND sql IS NOT NULL "
            f"AND tbl_name IN ({','.join('?' * len(tables))})",
            tables,
        )
    ]
    for (name,) in con.execute(
        f"SELECT name FROM sqlite_master WHERE type='index' AND sql IS NOT NULL "
        f"AND tbl_name IN ({','.join('?' * len(tables))})",
        tables,
    ).fetchall():
        con.execute(f'DROP INDEX "{name}"')

    sw = np.array([s[2] for s in SURNAMES], dtype=float)
    surnames = rng.choice([s[0] for s in SURNAMES], size=customers, p=sw / sw.sum())
    given = [g[0] for g in GIVEN]
    g1 = rng.choice(given, size=customers)
    g2 = np.where(rng.random(customers) < 0.6, rng.choice(given, size=customers), "")
    cw = np.array([c.weight for c in CITIES], dtype=float)
    city_idx = rng.choice(len(CITIES), size=customers, p=cw / cw.sum())
    phones = rng.integers(3_000_000_000, 9_999_999_999, size=customers)
    has_email = rng.random(customers) < 0.6
    has_company = rng.random(customers) < 0.25
    owned = rng.random(customers) < 0.7
    owners = rng.choice(rep_ids, size=customers)
    tag_pick = rng.random(customers)
    created = 1_640_995_200 + rng.integers(0, 4 * 365 * 86400, size=customers)
    now = "2026-11-01 00:00:00.000000"

    def customer_rows():  # type: ignore[no-untyped-def]
        for i in range(customers):
            cid = i + 1
            name = f"{surnames[i]}{g1[i]}{g2[i]}"
            city = CITIES[city_idx[i]]
            tags = '["VIP"]' if tag_pick[i] < 0.05 else ('["门店会员"]' if tag_pick[i] < 0.15 else None)
            at = time.strftime("%Y-%m-%d %H:%M:%S.000000", time.gmtime(int(created[i])))
            yield (
                cid, name, f"1{phones[i]}", f"u{cid}@example.com" if has_email[i] else None,
                f"{city.name[:2]}{g1[i]}{g2[i]}科技有限公司" if has_company[i] else None,
                city.province, city.name, int(owners[i]) if owned[i] else None, tags, at, at, at,
            )  # fmt: skip

    con.executemany(
        "INSERT INTO customers (id, name, phone, email, company, region, city, owner_id, tags, signup_at,"
        " created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        customer_rows(),
    )
    con.executemany(
        "INSERT INTO customer_records (customer_id, source, source_customer_id, created_at, updated_at)"
        " VALUES (?, 'bench', ?, ?, ?)",
        ((i + 1, f"B{i + 1:07d}", now, now) for i in range(customers)),
    )
    buyers = rng.integers(1, customers + 1, size=orders)
    amounts = (rng.gamma(2.0, 20_000, size=orders)).astype(np.int64)
    when = 1_672_531_200 + rng.integers(0, 3 * 365 * 86400, size=orders)
    status = rng.choice(["completed", "paid", "refunded"], size=orders, p=[0.93, 0.05, 0.02])
    con.executemany(
        "INSERT INTO orders (source, order_id, customer_id, row_hash, created_at, updated_at, ordered_at,"
        " amount_cents, currency, status) VALUES ('bench', ?, ?, 0, ?, ?, ?, ?, 'CNY', ?)",
        (
            (f"O{j:08d}", int(buyers[j]), now, now,
             time.strftime("%Y-%m-%d %H:%M:%S.000000", time.gmtime(int(when[j]))), int(amounts[j]), str(status[j]))
            for j in range(orders)
        ),
    )  # fmt: skip
    talkers = rng.integers(1, customers + 1, size=interactions)
    con.executemany(
        "INSERT INTO interactions (source, interaction_id, customer_id, row_hash, created_at, updated_at,"
        " occurred_at, type, channel, note) VALUES ('bench', ?, ?, 0, ?, ?, ?, 'call', 'phone', '回访')",
        ((f"I{j:08d}", int(talkers[j]), now, now, now) for j in range(interactions)),
    )
    con.commit()
    for sql in index_sql:
        con.execute(sql)
    con.execute("ANALYZE")
    con.commit()
    con.close()
    # indexes of this build that the migration does not have yet (created on the filled tables)
    from kehu.store.schema import customers as customers_table

    ws = Workspace(load_settings(home=home))
    metadata.create_all(ws.engine)
    with ws.engine.begin() as conn:
        for index in customers_table.indexes:
            index.create(conn, checkfirst=True)
        conn.exec_driver_sql("ANALYZE")
    ws.close()
    rep = int(rep_ids[0])
    return {"seconds": time.perf_counter() - started, "rep": "r0_0", "rep_id": rep}


def publish_scores(home: Path, *, seed: int) -> float:
    """Publish what a pipeline run would for every customer, as the customers list reads it: one
    ``customer_scores`` row per 19 of 20 customers (revenue, last order, CLV, P(alive); churn risk and tier for
    7 in 10) and the newest ``rfm_cn`` and ``lifecycle`` runs with their memberships (some segments small)."""
    from kehu.config import load_settings
    from kehu.segments.config import load_config
    from kehu.service.workspace import Workspace

    started = time.perf_counter()
    ws = Workspace(load_settings(home=home))
    ws.init()  # an older bench store gets the migrations it lacks
    db = str(ws.engine.url.database)
    ws.close()
    con = sqlite3.connect(db)
    if con.execute("SELECT count(*) FROM customer_scores").fetchone()[0]:
        con.close()
        return 0.0
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    con.execute("PRAGMA cache_size=-400000")
    tables = ("customer_scores", "segment_memberships")
    marks = ",".join("?" * len(tables))
    index_sql = dict(
        con.execute(
            f"SELECT name, sql FROM sqlite_master WHERE type='index' AND sql IS NOT NULL AND tbl_name IN ({marks})",
            tables,
        ).fetchall()
    )
    for name in index_sql:
        con.execute(f'DROP INDEX "{name}"')
    n = int(con.execute("SELECT max(id) FROM customers").fetchone()[0])
    rng = np.random.default_rng(seed + 1)
    as_of, now = "2026-11-01", "2026-11-01 02:00:00.000000"
    run_id = con.execute(
        "INSERT INTO pipeline_runs (as_of, engine, started_at, finished_at, customers, seconds, step_seconds)"
        " VALUES (?, 'duckdb', ?, ?, ?, 60.0, '{}')",
        (as_of, now, now, n),
    ).lastrowid
    scored = np.flatnonzero(rng.random(n) < 0.95) + 1
    k = scored.size
    orders = rng.geometric(0.35, size=k)
    revenue = (orders * rng.gamma(2.0, 20_000, size=k)).astype(np.int64)
    days_since = rng.integers(0, 1000, size=k)
    last = 1_793_491_200 - days_since * 86400  # 2026-11-01 minus days
    clv = np.round(rng.gamma(1.5, 400.0, size=k) * (orders > 1), 2)
    alive = np.round(rng.beta(2.0, 2.0, size=k), 6)
    churned = rng.random(k) < 0.7
    risk = np.round(rng.beta(2.0, 3.0, size=k), 6)
    tier = np.where(risk >= 0.6, "high", np.where(risk >= 0.3, "medium", "low"))

    def score_rows():  # type: ignore[no-untyped-def]
        for i in range(k):
            values: dict[str, object] = {"clv_12m": float(clv[i]), "p_alive": float(alive[i])}
            if churned[i]:
                values |= {"churn_risk": float(risk[i]), "churn_tier": str(tier[i])}
            at = time.strftime("%Y-%m-%d %H:%M:%S.000000", time.gmtime(int(last[i])))
            yield (
                int(scored[i]), as_of, run_id, int(orders[i]), int(revenue[i]), at, int(days_since[i]),
                json.dumps(values), float(clv[i]), float(risk[i]) if churned[i] else None,
                str(tier[i]) if churned[i] else None,
            )  # fmt: skip

    con.executemany(
        "INSERT INTO customer_scores (customer_id, as_of, run_id, orders, total_revenue_cents, last_order_at,"
        " days_since_last_order, scores, clv_12m, churn_risk, churn_tier) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        score_rows(),
    )
    schemes = load_config().schemes
    for name in ("rfm_cn", "lifecycle"):
        scheme = schemes[name]
        definition = json.dumps(scheme.definition(), ensure_ascii=False, default=str)
        def_id = con.execute(
            "INSERT INTO segment_definitions (scheme, version, kind, definition, digest, created_at)"
            " VALUES (?, 1, ?, ?, ?, ?)",
            (name, scheme.kind, definition, f"bench-{name}", now),
        ).lastrowid
        seg_run = con.execute(
            "INSERT INTO segment_runs (scheme, as_of, definition_id, engine, created_at, population)"
            " VALUES (?, ?, ?, 'duckdb', ?, ?)",
            (name, as_of, def_id, now, k),
        ).lastrowid
        keys = list(scheme.keys)
        weights = 0.6 ** np.arange(len(keys))  # from a third of the customers down to a few hundred
        segment = rng.choice(len(keys), size=k, p=weights / weights.sum())
        con.executemany(
            'INSERT INTO segment_memberships (run_id, customer_id, segment, "values") VALUES (?, ?, ?, NULL)',
            ((seg_run, int(scored[i]), keys[segment[i]]) for i in range(k)),
        )
    con.commit()
    for sql in index_sql.values():
        con.execute(sql)
    con.execute("ANALYZE")
    con.commit()
    con.close()
    return time.perf_counter() - started


# -- load ----------------------------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(home: Path, port: int, workers: int) -> subprocess.Popen[bytes]:
    code = (
        "from kehu.config import load_settings; from kehu.web.server import serve; "
        f"serve(load_settings(home={str(home)!r}), '127.0.0.1', {port}, workers={workers}, access_log=False, "
        "schedule=False)"  # the daily run would start on a store with no run today, and this measures the pages
    )
    return subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.DEVNULL)


def _wait_until_serving(base: str, server: subprocess.Popen[bytes], timeout: float = 300.0) -> None:
    """Wait until the sign-in page answers (starting is slow on a busy machine); fail if the server died."""
    import httpx2 as httpx

    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode}")
        try:
            if httpx.get(base + "/login", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the server did not answer within {timeout:.0f} s")


def _cpu_seconds(server: subprocess.Popen[bytes]) -> float:
    """User + system CPU seconds used so far by the server process and its worker processes."""
    import psutil

    root = psutil.Process(server.pid)
    total = 0.0
    for proc in [root, *root.children(recursive=True)]:
        try:
            t = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += t.user + t.system
    return total


async def _login(client: object, name: str) -> None:
    import httpx2 as httpx

    assert isinstance(client, httpx.AsyncClient)
    r = await client.get("/login")
    r.raise_for_status()
    r = await client.post(
        "/login", data={"name": name, "password": PASSWORD, "csrf_token": client.cookies["kehu_login_csrf"]}
    )
    if "kehu_session" not in client.cookies:
        raise RuntimeError(f"could not sign in as {name}: {r.status_code}")


def _segment_keys() -> tuple[list[str], list[str]]:
    from kehu.segments.config import load_config

    schemes = load_config().schemes
    return list(schemes["rfm_cn"].keys), list(schemes["lifecycle"].keys)


def _pick(
    rng: random.Random, next_page: str | None, *, customers: int, rfm_keys: list[str], stages: list[str]
) -> tuple[str, str, dict[str, object]]:
    """The next request of a client: ``(kind, url, params)`` — a list page (random sort, direction and filter,
    30 % of the time the next page of the client's previous list), a search or a customer 360 page."""
    from kehu.demo.catalog import CITIES, SURNAMES

    kind = rng.choices(("list", "search", "360"), weights=(4, 3, 3))[0]
    params: dict[str, object] = {}
    url = "/customers"
    if kind == "list" and next_page and rng.random() < 0.3:
        url, params = next_page, {}  # the next page of an earlier list, as the page linked it
    elif kind == "list":
        params = {"sort": rng.choice(SORTS), "desc": rng.choice((0, 1))}
        f = rng.random()
        if f < 0.15:
            params["region"] = rng.choice(CITIES).province
        elif f < 0.22:
            params["tag"] = "VIP"
        elif f < 0.37:
            params["segment"] = "rfm_cn:" + rng.choice(rfm_keys)
        elif f < 0.50:
            params["stage"] = rng.choice(stages)
        elif f < 0.62:
            params["risk"] = rng.choice(("high", "medium", "low"))
        elif f < 0.70:
            params["risk"] = "high"
            params["segment"] = "rfm_cn:" + rng.choice(rfm_keys)
    elif kind == "search":
        q = rng.choice(
            (
                rng.choice(SURNAMES)[0] + rng.choice("伟芳娜敏静丽强磊"),
                f"1{rng.randint(30, 99)}{rng.randint(0, 999):03d}",
                f"u{rng.randint(1, customers)}",
                rng.choice(CITIES).name[:2],
            )
        )
        params = {"q": q}
    else:
        url = f"/customers/{rng.randint(1, customers)}"
    return kind, url, params


def _next_link(text: str) -> str | None:
    """The list page's "next" link, as a browser would follow it."""
    if 'rel="next" href="' not in text:
        return None
    return html.unescape(text.split('rel="next" href="')[1].split('"')[0])


async def _run(
    base: str, *, clients: int, seconds: float, customers: int, rep: str, seed: int
) -> dict[str, list[float]]:
    import httpx2 as httpx

    rfm_keys, stages = _segment_keys()
    latencies: dict[str, list[float]] = {"list": [], "search": [], "360": []}
    errors: list[str] = []
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients)

    async def worker(k: int) -> None:
        rng = random.Random(seed * 1000 + k)
        who = rep if k % 5 == 0 else "admin"  # every fifth client is a sales rep
        async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as c:
            await _login(c, who)
            next_page: str | None = None
            while time.perf_counter() < deadline:
                kind, url, params = _pick(rng, next_page, customers=customers, rfm_keys=rfm_keys, stages=stages)
                t0 = time.perf_counter()
                try:
                    r = await c.get(url, params=params)
                    ok = r.status_code == 200 or (r.status_code == 403 and kind == "360" and who == rep)
                    if not ok:
                        errors.append(f"{url} {params} -> {r.status_code}")
                except httpx.HTTPError as exc:
                    errors.append(f"{url} {params} -> {type(exc).__name__}")
                    continue
                latencies[kind].append((time.perf_counter() - t0) * 1000)
                if kind == "list" and r.status_code == 200:
                    next_page = _next_link(r.text)

    await asyncio.gather(*(worker(k) for k in range(clients)))
    latencies["errors"] = [float(len(errors))]
    for e in errors[:10]:
        print("error:", e)
    return latencies


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def _time_statements(engine: object) -> dict[str, dict[str, list[float]]]:
    """Time every SQL statement the engine runs: ``[seconds, count]`` per statement text, in ``result["now"]``."""
    from sqlalchemy import event

    result: dict[str, dict[str, list[float]]] = {"now": {}}
    started: list[float] = []

    @event.listens_for(engine, "before_cursor_execute")
    def before(*_args: object) -> None:
        started.append(time.perf_counter())

    @event.listens_for(engine, "after_cursor_execute")
    def after(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        entry = result["now"].setdefault(statement, [0.0, 0])
        entry[0] += time.perf_counter() - started.pop()
        entry[1] += 1

    return result


def _profile(
    home: Path,
    *,
    requests: int,
    customers: int,
    seed: int,
    sort: str,
    top: int,
    match: str | None,
    sql_top: int,
) -> None:
    """Drive the same request mix in this process, one request at a time, under cProfile: the app is called
    through httpx's ASGI transport and the work FastAPI hands to its thread pool runs inline, so the profile sees
    every call. A fifth of ``requests`` warms the caches; then ``requests`` are timed without the profiler and
    ``requests`` more under it. Prints the time per request kind and the top functions (no server, no sockets)."""
    import cProfile
    import pstats

    import anyio.to_thread
    import httpx2 as httpx

    from kehu.config import load_settings
    from kehu.web.app import create_app

    async def inline(func: object, *args: object, **_kwargs: object) -> object:
        assert callable(func)
        return func(*args)

    anyio.to_thread.run_sync = inline  # type: ignore[assignment]
    app = create_app(load_settings(home=home))
    sql = _time_statements(app.state.workspace.engine)
    rfm_keys, stages = _segment_keys()

    async def drive() -> None:
        transport = httpx.ASGITransport(app=app)
        sessions = []
        for who in ("admin", "r0_0"):
            c = httpx.AsyncClient(transport=transport, base_url="http://bench")
            await _login(c, who)
            sessions.append(c)
        rng = random.Random(seed)
        nexts: list[str | None] = [None, None]
        profiler = cProfile.Profile()

        async def one(i: int, spent: dict[str, list[float]], profiled: bool) -> None:
            k = 1 if i % 5 == 0 else 0  # every fifth request is a sales rep's
            kind, url, params = _pick(rng, nexts[k], customers=customers, rfm_keys=rfm_keys, stages=stages)
            t0 = time.perf_counter()
            if profiled:
                profiler.enable()
            r = await sessions[k].get(url, params=params)
            profiler.disable()
            spent[kind].append((time.perf_counter() - t0) * 1000)
            slowest.append((spent[kind][-1], ("rep " if k else "admin ") + str(r.request.url)[len("http://bench") :]))
            if r.status_code != 200 and not (r.status_code == 403 and k == 1):
                raise RuntimeError(f"{url} {params} -> {r.status_code}")
            if kind == "list":
                nexts[k] = _next_link(r.text)

        slowest: list[tuple[float, str]] = []
        for label, profiled in (("warm-up", False), ("timed", False), ("profiled", True)):
            sql["now"] = sql.setdefault(label, {})
            slowest.clear()
            spent: dict[str, list[float]] = {"list": [], "search": [], "360": []}
            cpu = time.process_time()
            for i in range(requests // 5 if label == "warm-up" else requests):
                await one(i, spent, profiled)
            cpu = time.process_time() - cpu
            if label == "warm-up":
                continue
            every = [v for vs in spent.values() for v in vs]
            print(f"in-process, {label} ({'inflated by the profiler' if profiled else 'no profiler'}): "
                  f"{len(every)} requests, CPU {1000 * cpu / len(every):.1f} ms per request")  # fmt: skip
            for kind, values in [*spent.items(), ("all", every)]:
                print(f"  {kind:8} {len(values):5d} requests, mean {np.mean(values):6.1f} ms, "
                      f"median {_pct(values, 50):6.1f} ms, p95 {_pct(values, 95):6.1f} ms")  # fmt: skip
            if label == "timed" and sql_top:
                print("  slowest:", *(f"{ms:6.1f} ms {url}" for ms, url in sorted(slowest, reverse=True)[:12]),
                      sep="\n    ")  # fmt: skip
        if sql_top:
            print(f"SQL statements of the timed pass by total time (top {sql_top}):")
            for (seconds, n), text in sorted(((v, k) for k, v in sql["timed"].items()), reverse=True)[:sql_top]:
                print(f"  {seconds * 1000:8.1f} ms {n:6d}x  {' '.join(text.split())[:150]}")
        pstats.Stats(profiler).sort_stats(sort).print_stats(*([match] if match else []), top)
        for c in sessions:
            await c.aclose()

    asyncio.run(drive())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--orders", type=int, default=3_000_000)
    ap.add_argument("--interactions", type=int, default=1_000_000)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2, help="server worker processes (one per core)")
    ap.add_argument("--home", type=Path, default=None, help="workspace folder (default: a temporary one)")
    ap.add_argument("--reuse", action="store_true", help="reuse the store in --home if it exists")
    ap.add_argument("--profile", type=int, default=0, metavar="N",
                    help="instead of the load: N requests of the same mix in-process under cProfile")  # fmt: skip
    ap.add_argument("--profile-sort", default="cumulative", help="pstats sort key of --profile's listing")
    ap.add_argument("--profile-top", type=int, default=40, help="functions listed by --profile")
    ap.add_argument("--profile-match", default=None, help="list only functions whose file:line(name) matches")
    ap.add_argument("--profile-sql", type=int, default=0, metavar="K", help="also list the K costliest statements")
    args = ap.parse_args()

    home = args.home or Path(tempfile.mkdtemp(prefix="kehu-web-bench-")) / "home"
    if args.reuse and (home / "kehu.db").exists():
        facts: dict[str, object] = {"rep": "r0_0", "seconds": 0.0}
        with sqlite3.connect(home / "kehu.db") as db:  # the store's own size, whatever --customers says
            args.customers = int(db.execute("SELECT count(*) FROM customers").fetchone()[0])
        print(f"reusing {home} ({args.customers:,} customers)")
    else:
        facts = build_store(
            home, customers=args.customers, orders=args.orders, interactions=args.interactions, seed=args.seed
        )
        print(f"built {args.customers:,} customers, {args.orders:,} orders, {args.interactions:,} interactions "
              f"in {facts['seconds']:.0f} s at {home}")  # fmt: skip
    took = publish_scores(home, seed=args.seed)
    if took:
        print(f"published scores and segment runs in {took:.0f} s")
    if args.profile:
        _profile(home, requests=args.profile, customers=args.customers, seed=args.seed, sort=args.profile_sort,
                 top=args.profile_top, match=args.profile_match, sql_top=args.profile_sql)  # fmt: skip
        return

    port = _free_port()
    server = _serve(home, port, args.workers)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(base, server)
        # warm-up (page cache, cached filter choices), not measured
        asyncio.run(_run(base, clients=2, seconds=3, customers=args.customers, rep=str(facts["rep"]), seed=99))
        server_cpu, client_cpu = _cpu_seconds(server), time.process_time()
        lat = asyncio.run(
            _run(base, clients=args.clients, seconds=args.seconds, customers=args.customers,
                 rep=str(facts["rep"]), seed=args.seed)
        )  # fmt: skip
        server_cpu, client_cpu = _cpu_seconds(server) - server_cpu, time.process_time() - client_cpu
    finally:
        server.terminate()
        server.wait(timeout=30)

    errors = int(lat.pop("errors")[0])
    every = [v for vs in lat.values() for v in vs]
    print(f"\n{args.clients} clients for {args.seconds:.0f} s on loopback, {args.customers:,} customers (SQLite), "
          f"{args.workers} server worker(s)")  # fmt: skip
    print(f"{'kind':8} {'requests':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for kind, values in [*lat.items(), ("all", every)]:
        print(f"{kind:8} {len(values):9d} {_pct(values, 50):8.1f} {_pct(values, 95):8.1f} {_pct(values, 99):8.1f} "
              f"{max(values, default=float('nan')):8.1f}")  # fmt: skip
    print(f"throughput {len(every) / args.seconds:.1f} requests/s; errors {errors}")
    # CPU time per request hardly depends on what else the machine runs, unlike latency on a shared machine
    n = max(len(every), 1)
    print(f"CPU per request: server {1000 * server_cpu / n:.1f} ms, load generator {1000 * client_cpu / n:.1f} ms; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")  # fmt: skip
    p95 = _pct(every, 95)
    print(f"target p95 < 300 ms: {'met' if p95 < 300 and errors == 0 else 'NOT met'} (p95 {p95:.1f} ms)")


if __name__ == "__main__":
    main()
