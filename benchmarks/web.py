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
"""

from __future__ import annotations

import argparse
import asyncio
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


# -- load ----------------------------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(home: Path, port: int, workers: int) -> subprocess.Popen[bytes]:
    code = (
        "from kehu.config import load_settings; from kehu.web.server import serve; "
        f"serve(load_settings(home={str(home)!r}), '127.0.0.1', {port}, workers={workers}, access_log=False)"
    )
    return subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.DEVNULL)


async def _login(client: object, name: str) -> None:
    import httpx

    assert isinstance(client, httpx.AsyncClient)
    r = await client.get("/login")
    r.raise_for_status()
    r = await client.post(
        "/login", data={"name": name, "password": PASSWORD, "csrf_token": client.cookies["kehu_login_csrf"]}
    )
    if "kehu_session" not in client.cookies:
        raise RuntimeError(f"could not sign in as {name}: {r.status_code}")


async def _run(
    base: str, *, clients: int, seconds: float, customers: int, rep: str, seed: int
) -> dict[str, list[float]]:
    import httpx

    from kehu.demo.catalog import CITIES, SURNAMES

    latencies: dict[str, list[float]] = {"list": [], "search": [], "360": []}
    errors: list[str] = []
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients)

    async def worker(k: int) -> None:
        rng = random.Random(seed * 1000 + k)
        who = rep if k % 5 == 0 else "admin"  # every fifth client is a sales rep
        async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as c:
            await _login(c, who)
            cursor: str | None = None
            while time.perf_counter() < deadline:
                kind = rng.choices(("list", "search", "360"), weights=(4, 3, 3))[0]
                params: dict[str, object] = {}
                if kind == "list":
                    params = {"sort": rng.choice(("id", "name", "created", "region")), "desc": rng.choice((0, 1))}
                    f = rng.random()
                    if f < 0.25:
                        params["region"] = rng.choice(CITIES).province
                    elif f < 0.35:
                        params["tag"] = "VIP"
                    if cursor and rng.random() < 0.5:
                        params = {"after": cursor, "sort": "id"}
                    url = "/customers"
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
                    url = "/customers"
                else:
                    url = f"/customers/{rng.randint(1, customers)}"
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
                if kind == "list" and r.status_code == 200 and params.get("sort") == "id" and 'rel="next"' in r.text:
                    href = r.text.split('rel="next" href="')[1].split('"')[0]
                    cursor = href.split("after=")[1].split("&")[0] if "after=" in href else None

    await asyncio.gather(*(worker(k) for k in range(clients)))
    latencies["errors"] = [float(len(errors))]
    for e in errors[:10]:
        print("error:", e)
    return latencies


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


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
    args = ap.parse_args()

    home = args.home or Path(tempfile.mkdtemp(prefix="kehu-web-bench-")) / "home"
    if args.reuse and (home / "kehu.db").exists():
        facts: dict[str, object] = {"rep": "r0_0", "seconds": 0.0}
        print(f"reusing {home}")
    else:
        facts = build_store(
            home, customers=args.customers, orders=args.orders, interactions=args.interactions, seed=args.seed
        )
        print(f"built {args.customers:,} customers, {args.orders:,} orders, {args.interactions:,} interactions "
              f"in {facts['seconds']:.0f} s at {home}")  # fmt: skip

    port = _free_port()
    server = _serve(home, port, args.workers)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.1)
        # warm-up (page cache, cached filter choices), not measured
        asyncio.run(_run(base, clients=2, seconds=3, customers=args.customers, rep=str(facts["rep"]), seed=99))
        lat = asyncio.run(
            _run(base, clients=args.clients, seconds=args.seconds, customers=args.customers,
                 rep=str(facts["rep"]), seed=args.seed)
        )  # fmt: skip
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
    p95 = _pct(every, 95)
    print(f"target p95 < 300 ms: {'met' if p95 < 300 and errors == 0 else 'NOT met'} (p95 {p95:.1f} ms)")


if __name__ == "__main__":
    main()
