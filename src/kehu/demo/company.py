"""Generate the seeded demo company 山禾茶业: its export files and a hidden ground truth.

``generate_demo(out_dir)`` simulates a tea brand's customers over three years up to ``as_of`` and writes
the files a company like it really has, in the order they must be imported (customers first): the CRM
customer list (GB18030 CSV), the stores' member list (a second source whose members overlap the CRM by
phone or e-mail), orders (UTF-8 CSV with BOM), contracts (XLSX), interactions (Parquet), tickets and
survey answers (UTF-8 CSV). All files except the member list refer to customers by their CRM id and are
imported under the source ``crm``. A Parquet file of per-customer truth (archetype, churn, rates …) is
written beside them for tests; it is not imported.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from kehu.demo import files
from kehu.demo.activity import Table, make_contracts, make_orders
from kehu.demo.catalog import B2B_CHANNELS, B2C_CHANNELS, CITIES, TEAMS
from kehu.demo.engagement import make_feedback, make_interactions, make_tickets
from kehu.demo.people import person_names, unique_mobiles
from kehu.demo.population import ARCHETYPES, Owner, Population, make_owners, make_population
from kehu.demo.seasons import Timeline
from kehu.errors import ValidationError

__all__ = ["DEFAULT_AS_OF", "DemoCompany", "DemoFile", "generate_demo"]

DEFAULT_AS_OF = date(2026, 10, 31)
_STREAMS = (
    "owners",
    "population",
    "orders",
    "contracts",
    "interactions",
    "tickets",
    "feedback",
    "store",
    "customers_file",
    "store_file",
    "orders_file",
    "contracts_file",
    "interactions_file",
    "tickets_file",
    "feedback_file",
)


@dataclass(frozen=True)
class DemoFile:
    """One file to import: its kind, where it is, the source system it comes from, and its sheet."""

    kind: str  # customers | orders | contracts | interactions | tickets | feedback
    path: Path
    source: str  # source system name passed to the importer ("crm" or "store")
    sheet: str | None = None


@dataclass(frozen=True)
class DemoCompany:
    """What :func:`generate_demo` wrote."""

    files: list[DemoFile]  # in import order (customers first)
    owners: list[Owner]  # sales reps and managers
    as_of: date  # the "today" of the data
    truth_path: Path  # Parquet with the hidden per-customer truth (not imported)
    expected_bad_rows: dict[str, int]  # file name -> rows made bad on purpose
    bad_row_reasons: dict[str, dict[str, int]] = field(default_factory=dict)  # file name -> reason -> rows
    expected_merges: int = 0  # store members that share a phone or e-mail with a CRM customer


def _store_members(rng: np.random.Generator, pop: Population, timeline: Timeline) -> Table:
    """Store members: ~5% of consumers again (other ids; same phone or e-mail) plus some store-only members."""
    buyers = np.flatnonzero(~pop.is_b2b & np.isfinite(pop.first_purchase))
    k = min(buyers.size, max(1, round(pop.n * 0.05))) if buyers.size else 0
    same = np.sort(rng.choice(buyers, size=k, replace=False)) if k else np.zeros(0, dtype=np.int64)
    has_email = np.array([e is not None for e in pop.email[same]], dtype=bool)
    by_email = has_email & (rng.random(k) < 0.35)  # changed number or left it out: matched by e-mail only
    n_new = max(1, k // 4)
    fresh = unique_mobiles(rng, 2 * n_new + 16)
    fresh = fresh[~np.isin(fresh, pop.phone)]
    phone = pop.phone[same].copy()
    phone[by_email] = np.where(rng.random(int(by_email.sum())) < 0.5, 0, fresh[: int(by_email.sum())])
    new_phone = fresh[int(by_email.sum()) : int(by_email.sum()) + n_new]
    n_new = new_phone.size
    new_names, _, _ = person_names(rng, n_new)
    name = pop.name[same].copy()
    nick = rng.random(k) < 0.2  # clerks often write 王女士 / 李先生
    name[nick] = np.array(
        [
            f"{x[0]}{'女士' if r < 0.55 else '先生'}"
            for x, r in zip(name[nick], rng.random(int(nick.sum())), strict=True)
        ],
        dtype=object,
    )
    member_ids = rng.choice(9_000_000, size=k + n_new, replace=False) + 1_000_000
    joined_same = np.maximum(pop.signup[same], pop.first_purchase[same] + rng.uniform(0, 200, k))
    joined_same = np.minimum(joined_same, timeline.n_days - 1)
    tiers = np.array(["门店会员", "门店会员、银卡", "门店会员、金卡"], dtype=object)
    return {
        "cust": np.concatenate([same, np.full(n_new, -1)]),
        "member_id": np.array([f"M{m}" for m in member_ids], dtype=object),
        "name": np.concatenate([name, new_names]),
        "phone": np.concatenate([phone, new_phone]).astype(np.int64),
        "email": np.concatenate([pop.email[same], np.full(n_new, None, dtype=object)]),
        "city": np.concatenate([pop.city[same], rng.choice(pop.city, size=n_new)]),
        "joined": np.concatenate([joined_same, rng.uniform(0, timeline.n_days - 1, n_new)]),
        "tags": tiers[rng.choice(3, size=k + n_new, p=[0.6, 0.3, 0.1])],
    }


def _tags(pop: Population, orders: Table) -> np.ndarray:
    """CRM tags a company would set from what it sees: VIP by spend, 企业客户, 直播粉丝, 价格敏感."""
    ok = np.isin(orders["status"], ("completed", "paid"))
    spend = np.bincount(orders["cust"][ok], weights=orders["amount"][ok], minlength=pop.n)
    count = np.bincount(orders["cust"][ok], minlength=pop.n)
    disc = np.bincount(orders["cust"][ok], weights=orders["discount"][ok] > 0, minlength=pop.n)
    b2c = ~pop.is_b2b
    vip = b2c & (spend > 0) & (spend >= (np.quantile(spend[b2c], 0.95) if b2c.any() else np.inf))
    key = np.array([a.name == "key_account" for a in ARCHETYPES])[pop.arch]
    live = b2c & (np.array([c for c, _ in B2C_CHANNELS])[np.where(pop.is_b2b, 0, pop.channel)] == "抖音直播")
    sensitive = (count >= 3) & (disc >= 0.6 * count)
    parts = [
        (vip, "VIP"),
        (pop.is_b2b, "企业客户"),
        (key & pop.is_b2b, "重点客户"),
        (live, "直播粉丝"),
        (sensitive, "价格敏感"),
    ]
    out = np.full(pop.n, None, dtype=object)
    for mask, label in parts:
        out[mask] = np.array([label if t is None else f"{t}、{label}" for t in out[mask]], dtype=object)
    return out


def _truth(
    pop: Population,
    timeline: Timeline,
    orders: Table,
    contracts: Table,
    inter: Table,
    tickets: Table,
    feedback: Table,
    store: Table,
    owners: list[Owner],
) -> pa.Table:
    n = pop.n
    ok = np.isin(orders["status"], ("completed", "paid"))
    nps = feedback["kind"] == "nps"
    nps_n = np.bincount(feedback["cust"][nps], minlength=n)
    nps_sum = np.bincount(feedback["cust"][nps], weights=feedback["score"][nps], minlength=n)
    store_id = np.full(n, None, dtype=object)
    linked = store["cust"] >= 0
    store_id[store["cust"][linked]] = store["member_id"][linked]
    team_of = {o.name: o.team for o in owners}
    churn_day = np.where(pop.churned, pop.churn, 0)

    def days(t: np.ndarray, valid: np.ndarray) -> pa.Array:
        d = (timeline.start - date(1970, 1, 1)).days + np.floor(np.nan_to_num(t)).astype(np.int32)
        return pa.array(d, pa.date32(), mask=~valid)

    return pa.table(
        {
            "customer_id": pa.array(pop.ids.tolist(), pa.string()),
            "store_member_id": pa.array(store_id.tolist(), pa.string()),
            "is_b2b": pop.is_b2b,
            "archetype": pa.array([ARCHETYPES[a].name for a in pop.arch], pa.string()),
            "signup_date": days(pop.signup, np.ones(n, bool)),
            "first_purchase_date": days(pop.first_purchase, np.isfinite(pop.first_purchase)),
            "churned": pop.churned,
            "churn_date": days(churn_day, pop.churned),
            "purchase_rate_per_year": pop.rate * 365.0,
            "satisfaction": pop.z,
            "province": pa.array([CITIES[c].province for c in pop.city], pa.string()),
            "city": pa.array([CITIES[c].name for c in pop.city], pa.string()),
            "team": pa.array(
                [team_of.get(o) if o else TEAMS[t][0] for o, t in zip(pop.owner, pop.team, strict=True)], pa.string()
            ),
            "owner": pa.array(pop.owner.tolist(), pa.string()),
            "acquisition_channel": pa.array(
                [(B2B_CHANNELS if b else B2C_CHANNELS)[c][0] for b, c in zip(pop.is_b2b, pop.channel, strict=True)],
                pa.string(),
            ),
            "orders": np.bincount(orders["cust"], minlength=n),
            "paid_orders": np.bincount(orders["cust"][ok], minlength=n),
            "revenue": np.bincount(orders["cust"][ok], weights=orders["amount"][ok], minlength=n) / 100.0,
            "contracts": np.bincount(contracts["cust"], minlength=n),
            "renewals": np.bincount(contracts["cust"][contracts["term"] > 0], minlength=n),
            "interactions": np.bincount(inter["cust"], minlength=n),
            "tickets": np.bincount(tickets["cust"], minlength=n),
            "complaints": np.bincount(tickets["cust"][tickets["complaint"]], minlength=n),
            "nps_responses": nps_n,
            "nps_mean": pa.array(np.where(nps_n > 0, nps_sum / np.maximum(nps_n, 1), 0.0), mask=nps_n == 0),
        }
    )


def generate_demo(out_dir: Path, *, customers: int = 20_000, seed: int = 0, as_of: date | None = None) -> DemoCompany:
    """Write the demo company's files to ``out_dir`` (created if needed).

    Parameters
    ----------
    out_dir
        Folder for the files; existing demo files in it are overwritten.
    customers
        Number of CRM customers (B2B about 10% of them).
    seed
        Random seed: the same seed, size and ``as_of`` give byte-identical files.
    as_of
        The last day of the history (default 2026-10-31, fixed so runs are reproducible).

    Returns
    -------
    DemoCompany
        The files in import order, the owners, ``as_of``, the truth file and the bad rows per file.

    Raises
    ------
    ValidationError
        If ``customers`` is less than 1.
    """
    if customers < 1:
        raise ValidationError(f"customers must be at least 1, got {customers}")
    as_of = as_of or DEFAULT_AS_OF
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = dict(
        zip(
            _STREAMS, (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(len(_STREAMS))), strict=True
        )
    )
    timeline = Timeline.ending(as_of)
    owners, reps_of = make_owners(rng["owners"])
    pop = make_population(rng["population"], customers, timeline, owners, reps_of)
    orders = make_orders(rng["orders"], pop, timeline)
    contracts = make_contracts(rng["contracts"], pop, timeline)
    inter = make_interactions(rng["interactions"], pop, timeline)
    tickets = make_tickets(rng["tickets"], pop, timeline)
    feedback = make_feedback(rng["feedback"], pop, timeline, orders)
    store = _store_members(rng["store"], pop, timeline)

    paths = {
        "customers": out_dir / "crm_customers_gbk.csv",
        "store": out_dir / "store_members.csv",
        "orders": out_dir / "shop_orders.csv",
        "contracts": out_dir / "erp_contracts.xlsx",
        "interactions": out_dir / "crm_interactions.parquet",
        "tickets": out_dir / "helpdesk_tickets.csv",
        "feedback": out_dir / "survey_feedback.csv",
    }
    reasons: dict[str, Counter[str]] = {
        "customers": files.write_customers(
            paths["customers"], rng["customers_file"], pop, timeline, _tags(pop, orders)
        ),
        "store": files.write_store_members(paths["store"], rng["store_file"], store, timeline),
        "orders": files.write_orders(paths["orders"], rng["orders_file"], orders, pop, timeline),
        "contracts": files.write_contracts(paths["contracts"], rng["contracts_file"], contracts, pop, timeline),
        "interactions": files.write_interactions(paths["interactions"], rng["interactions_file"], inter, pop, timeline),
        "tickets": files.write_tickets(paths["tickets"], rng["tickets_file"], tickets, pop, timeline),
        "feedback": files.write_feedback(paths["feedback"], rng["feedback_file"], feedback, pop, timeline),
    }
    truth_path = out_dir / "truth.parquet"
    pq.write_table(
        _truth(pop, timeline, orders, contracts, inter, tickets, feedback, store, owners),
        truth_path,
        compression="zstd",
        store_schema=False,
    )
    demo_files = [
        DemoFile("customers", paths["customers"], "crm"),
        DemoFile("customers", paths["store"], "store"),
        DemoFile("orders", paths["orders"], "crm"),
        DemoFile("contracts", paths["contracts"], "crm", sheet="合同"),
        DemoFile("interactions", paths["interactions"], "crm"),
        DemoFile("tickets", paths["tickets"], "crm"),
        DemoFile("feedback", paths["feedback"], "crm"),
    ]
    return DemoCompany(
        files=demo_files,
        owners=owners,
        as_of=as_of,
        truth_path=truth_path,
        expected_bad_rows={paths[k].name: sum(c.values()) for k, c in reasons.items()},
        bad_row_reasons={paths[k].name: dict(sorted(c.items())) for k, c in reasons.items()},
        expected_merges=int((store["cust"] >= 0).sum()),
    )
