"""The demo company's export files: how each one is rendered in the style of the system it comes from.

Each ``write_*`` function renders one table with the headers of :mod:`kehu.demo.headers`, adds its bad rows
(:mod:`kehu.demo.dirty`) and returns how many it added, by reason.
"""

from __future__ import annotations

from collections import Counter
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kehu.demo.activity import Table
from kehu.demo.catalog import B2B_CHANNELS, B2C_CHANNELS, CITIES
from kehu.demo.dirty import Defect, bad_count, inject_columns, inject_rows
from kehu.demo.formats import (
    date_text,
    datetime_text,
    int_text,
    mixed,
    money_text,
    sequence_ids,
    write_csv,
    write_parquet,
    write_xlsx,
)
from kehu.demo.headers import HEADERS
from kehu.demo.population import Population
from kehu.demo.seasons import Timeline

__all__ = [
    "write_contracts",
    "write_customers",
    "write_feedback",
    "write_interactions",
    "write_orders",
    "write_store_members",
    "write_tickets",
]

_BAD_DATES = ("2024-13-01", "2025-02-30", "2024-00-10", "2023/2/29", "13/45/2024", "昨天")
_BAD_DATETIMES = ("2024-13-01 10:00:00", "2025-02-30 14:20:00", "2024-06-31 09:15:00", "2025-04-31")


def _s(values: np.ndarray) -> pa.Array:
    return pa.array(values, pa.string())


def _eq(values: pa.Array, text: str) -> np.ndarray:
    """Vectorized ``values == text`` as a numpy mask (nulls compare unequal)."""
    return np.asarray(pc.fill_null(pc.equal(values, text), False))


def _customer_ids(pop: Population, cust: np.ndarray) -> pa.Array:
    return _s(pop.ids).take(pa.array(cust, pa.int64()))


def _id_width(n: int, minimum: int) -> int:
    return max(minimum, len(str(n)))


def _h(kind: str) -> dict[str, str]:
    return HEADERS[kind]


def _label(values: np.ndarray, rng: np.random.Generator, labels: dict[str, tuple[str, ...]]) -> pa.Array:
    """Canonical codes -> Chinese labels (a random synonym per row where several are given)."""
    out = np.empty(values.size, dtype=object)
    pick = rng.integers(0, 1 << 30, values.size)
    for code, names in labels.items():
        rows = np.flatnonzero(values == code)
        out[rows] = np.array(names, dtype=object)[pick[rows] % len(names)]
    return _s(out)


def _when(
    rng: np.random.Generator, secs: np.ndarray, valid: np.ndarray | None = None, *, slash: float = 0.0, cn: float = 0.0
) -> pa.Array:
    base = datetime_text(secs, valid)
    return mixed(base, rng, [(slash, date_text(secs, "slash", valid)), (cn, date_text(secs, "cn", valid))])


def _phone_styles(rng: np.random.Generator, phone: np.ndarray, shares: tuple[float, float, float, float]) -> np.ndarray:
    """Mobiles as written by people: plain, 138-1234-5678, +86 138 1234 5678, +8613812345678, 138 1234 5678."""
    s = phone.astype(str).astype(object)
    a, b, c = (np.array([x[i:j] for x in s], dtype=object) for i, j in ((0, 3), (3, 7), (7, 11)))
    u = rng.random(phone.size)
    edges = np.cumsum(shares)
    return np.select(
        [u < edges[0], u < edges[1], u < edges[2], u < edges[3]],
        [a + "-" + b + "-" + c, "+86 " + a + " " + b + " " + c, "+86" + s, a + " " + b + " " + c],
        s,
    ).astype(object)


def write_customers(
    path: Path, rng: np.random.Generator, pop: Population, timeline: Timeline, tags: np.ndarray
) -> Counter[str]:
    """The CRM customer list as an Excel-on-Windows export: GB18030 (GBK superset) CSV with CRLF lines."""
    h = _h("customers")
    b2b = pop.is_b2b
    channel = np.where(
        b2b,
        np.array([c for c, _ in B2B_CHANNELS], dtype=object)[np.minimum(pop.channel, 4)],
        np.array([c for c, _ in B2C_CHANNELS], dtype=object)[pop.channel],
    )
    contact = np.isfinite(pop.first_contact)
    cols = {
        h["customer_id"]: _s(pop.ids),
        h["name"]: _s(pop.name),
        h["phone"]: _s(_phone_styles(rng, pop.phone, (0.07, 0.05, 0.0, 0.03))),
        h["email"]: _s(pop.email),
        h["company"]: _s(pop.company),
        h["industry"]: _s(pop.industry),
        h["region"]: _s(np.array([CITIES[c].province for c in pop.city], dtype=object)),
        h["city"]: _s(np.array([CITIES[c].name for c in pop.city], dtype=object)),
        h["owner"]: _s(pop.owner),
        h["acquisition_channel"]: _s(channel),
        h["first_contact_at"]: date_text(timeline.seconds(np.nan_to_num(pop.first_contact)), valid=contact),
        h["signup_at"]: _when(rng, timeline.seconds(pop.signup), slash=0.08, cn=0.04),
        h["tags"]: _s(tags),
    }
    defects = [Defect("missing customer id", h["customer_id"], ("",))]
    cols, reasons = inject_columns(rng, cols, defects, bad_count(pop.n), id_column=None, new_id=str)
    write_csv(path, cols, encoding="gb18030", line_end="\r\n")
    return reasons


def write_store_members(path: Path, rng: np.random.Generator, members: Table, timeline: Timeline) -> Counter[str]:
    """The stores' member list (会员): other ids, phones and e-mails written differently. No bad rows."""
    h = _h("store")
    has_phone = members["phone"] > 0
    phone = _phone_styles(rng, np.where(has_phone, members["phone"], 0), (0.1, 0.3, 0.15, 0.2))
    phone[~has_phone] = None
    email = members["email"].copy()
    shout = np.array([e is not None for e in email]) & (rng.random(email.size) < 0.5)
    email[shout] = np.array([e.upper() for e in email[shout]], dtype=object)
    cols = {
        h["customer_id"]: _s(members["member_id"]),
        h["name"]: _s(members["name"]),
        h["phone"]: _s(phone),
        h["email"]: _s(email),
        h["region"]: _s(np.array([CITIES[c].province for c in members["city"]], dtype=object)),
        h["city"]: _s(np.array([CITIES[c].name for c in members["city"]], dtype=object)),
        h["signup_at"]: date_text(timeline.seconds(members["joined"]), "slash"),
        h["tags"]: _s(members["tags"]),
    }
    write_csv(path, cols, bom=True)
    return Counter()


def write_orders(
    path: Path, rng: np.random.Generator, orders: Table, pop: Population, timeline: Timeline
) -> Counter[str]:
    """The shop's order export: UTF-8 with BOM, mixed date and money formats."""
    h = _h("orders")
    n = orders["t"].size
    width = _id_width(n + bad_count(n), 8)
    amount = money_text(orders["amount"])
    paid_ok = np.isfinite(orders["paid"])
    cols = {
        h["order_id"]: sequence_ids("SO", n, width),
        h["customer_id"]: _customer_ids(pop, orders["cust"]),
        h["ordered_at"]: _when(rng, timeline.seconds(orders["t"]), slash=0.03, cn=0.02),
        h["amount"]: mixed(amount, rng, [(0.10, "yuan_sign"), (0.03, "yuan_suffix")], raw=orders["amount"]),
        h["gross_margin"]: money_text(orders["margin"]),
        h["discount"]: money_text(orders["discount"], valid=orders["discount"] > 0),
        h["quantity"]: int_text(orders["qty"]),
        h["product"]: _s(orders["product"]),
        h["category"]: _s(orders["category"]),
        h["channel"]: _s(orders["channel"]),
        h["status"]: _label(
            orders["status"],
            rng,
            {
                "completed": ("已完成", "已完成", "已完成", "交易成功"),
                "paid": ("已付款", "待发货"),
                "refunded": ("已退款",),
                "cancelled": ("已取消", "交易关闭"),
                "pending": ("待付款",),
            },
        ),
        h["paid_at"]: datetime_text(timeline.seconds(np.nan_to_num(orders["paid"])), paid_ok),
    }
    defects = [
        Defect("impossible order date", h["ordered_at"], _BAD_DATETIMES),
        Defect("amount is not a number", h["amount"], ("abc", "待定", "12..5", "¥一百")),
        Defect("missing customer id", h["customer_id"], ("",)),
        Defect("negative quantity", h["quantity"], ("-1", "-2", "-10")),
        Defect("unknown order status", h["status"], ("冻结", "异常挂起", "风控拦截")),
    ]
    cols, reasons = inject_columns(
        rng, cols, defects, bad_count(n), id_column=h["order_id"], new_id=lambda j: f"SO{n + 1 + j:0{width}d}"
    )
    write_csv(path, cols, bom=True)
    return reasons


def _day(timeline: Timeline, t: float) -> date:
    return date.fromordinal(timeline.start.toordinal() + int(np.floor(t)))


def write_contracts(
    path: Path, rng: np.random.Generator, contracts: Table, pop: Population, timeline: Timeline
) -> Counter[str]:
    """The ERP's contract list as XLSX (sheet 合同): real date and number cells, a few dates typed as text."""
    h = _h("contracts")
    header = list(h.values())
    labels = {"active": "执行中", "renewed": "已续约", "expired": "已到期", "terminated": "已终止", "draft": "待签"}
    as_text = rng.random(contracts["cust"].size) < 0.05
    rows: list[list[object]] = []
    for i in range(contracts["cust"].size):
        start, end = _day(timeline, contracts["start"][i]), _day(timeline, contracts["end"][i])
        signed = _day(timeline, contracts["signed"][i])
        rows.append(
            [
                contracts["contract_id"][i],
                contracts["renewal_of"][i],
                pop.ids[contracts["cust"][i]],
                signed,
                f"{start.year}年{start.month}月{start.day}日" if as_text[i] else start,
                end,
                int(contracts["value"][i]) / 100,
                "CNY",
                labels[contracts["status"][i]],
            ]
        )

    def swapped(row: list[object], pos: dict[str, int]) -> object:  # an end date before the start
        start = row[pos[h["start_date"]]]
        return date(start.year - 1, start.month, min(start.day, 28)) if isinstance(start, date) else "2019-01-01"

    defects = [
        Defect("impossible end date", h["end_date"], _BAD_DATES),
        Defect("missing customer id", h["customer_id"], ("",)),
        Defect("start date is not a date", h["start_date"], ("待定", "2024-13-01")),
        Defect("contract ends before it starts", h["end_date"], (swapped,)),
    ]
    n = len(rows)
    rows, reasons = inject_rows(
        rng, rows, header, defects, bad_count(n), id_column=h["contract_id"], new_id=lambda j: f"HT-BAD-{j + 1:04d}"
    )
    fmt = {header.index(h[k]): "yyyy-mm-dd" for k in ("signed_at", "start_date", "end_date")}
    fmt[header.index(h["value"])] = "#,##0.00"
    write_xlsx(path, "合同", header, rows, formats=fmt, fixed_time=f"{timeline.as_of.isoformat()}T18:00:00Z")
    return reasons


def write_interactions(
    path: Path, rng: np.random.Generator, inter: Table, pop: Population, timeline: Timeline
) -> Counter[str]:
    """The marketing/CRM event log as Parquet with string columns."""
    h = _h("interactions")
    n = inter["t"].size
    width = _id_width(n + bad_count(n), 9)
    b2b = pop.is_b2b[inter["cust"]]
    types, channels = _s(inter["type"]), _s(inter["channel"])
    kind = {
        k: _eq(types, k)
        for k in ("login", "visit", "chat", "call", "email", "campaign", "referral", "meeting", "review")
    }
    labels = np.select(
        [
            kind["login"],
            kind["visit"] & b2b,
            kind["visit"] & _eq(channels, "门店"),
            kind["visit"],
            kind["chat"],
            kind["call"] & b2b,
            kind["call"],
            kind["email"],
            kind["campaign"],
            kind["referral"],
            kind["meeting"],
            kind["review"],
        ],
        ["登录", "拜访", "到店", "浏览", "咨询", "外呼", "来电", "邮件", "营销", "转介绍", "会议", "评价"],
        "其他",
    ).astype(object)
    labels[kind["campaign"] & _eq(channels, "短信")] = "短信"
    labels[kind["campaign"] & _eq(channels, "APP推送")] = "推送"
    cols = {
        h["interaction_id"]: sequence_ids("HD", n, width),
        h["customer_id"]: _customer_ids(pop, inter["cust"]),
        h["occurred_at"]: datetime_text(timeline.seconds(inter["t"])),
        h["type"]: _s(labels),
        h["channel"]: channels,
        h["note"]: _s(inter["note"]),
    }
    defects = [
        Defect("unknown interaction type", h["type"], ("传真", "弹窗", "其它")),
        Defect("impossible date", h["occurred_at"], _BAD_DATETIMES),
        Defect("missing customer id", h["customer_id"], ("",)),
    ]
    cols, reasons = inject_columns(
        rng, cols, defects, bad_count(n), id_column=h["interaction_id"], new_id=lambda j: f"HD{n + 1 + j:0{width}d}"
    )
    write_parquet(path, cols)
    return reasons


def write_tickets(
    path: Path, rng: np.random.Generator, tickets: Table, pop: Population, timeline: Timeline
) -> Counter[str]:
    """The help desk's ticket export: plain UTF-8 CSV."""
    h = _h("tickets")
    n = tickets["opened"].size
    width = _id_width(n + bad_count(n), 8)
    fr, rs = tickets["first_response"], tickets["resolved"]
    sat = tickets["satisfaction"]
    cols = {
        h["ticket_id"]: sequence_ids("GD", n, width),
        h["customer_id"]: _customer_ids(pop, tickets["cust"]),
        h["opened_at"]: datetime_text(timeline.seconds(tickets["opened"])),
        h["first_response_at"]: datetime_text(timeline.seconds(np.nan_to_num(fr)), np.isfinite(fr)),
        h["resolved_at"]: datetime_text(timeline.seconds(np.nan_to_num(rs)), np.isfinite(rs)),
        h["topic"]: _s(tickets["topic"]),
        h["priority"]: _label(
            tickets["priority"], rng, {"low": ("低",), "normal": ("中", "普通"), "high": ("高",), "urgent": ("紧急",)}
        ),
        h["status"]: _label(
            tickets["status"],
            rng,
            {"open": ("待处理",), "in_progress": ("处理中",), "resolved": ("已解决",), "closed": ("已关闭",)},
        ),
        h["is_complaint"]: _s(np.where(tickets["complaint"], "是", "否").astype(object)),
        h["satisfaction"]: pa.array([str(v) if v else None for v in sat.tolist()], pa.string()),
        h["assignee"]: _s(tickets["assignee"]),
    }
    defects = [
        Defect("impossible opening date", h["opened_at"], _BAD_DATETIMES),
        Defect("missing customer id", h["customer_id"], ("",)),
        Defect("satisfaction out of range", h["satisfaction"], ("6", "0", "10")),
    ]
    cols, reasons = inject_columns(
        rng, cols, defects, bad_count(n), id_column=h["ticket_id"], new_id=lambda j: f"GD{n + 1 + j:0{width}d}"
    )
    write_csv(path, cols)
    return reasons


def write_feedback(
    path: Path, rng: np.random.Generator, feedback: Table, pop: Population, timeline: Timeline
) -> Counter[str]:
    """The survey tool's answers (NPS and CSAT): plain UTF-8 CSV."""
    h = _h("feedback")
    n = feedback["t"].size
    width = _id_width(n + bad_count(n), 8)
    cols = {
        h["feedback_id"]: sequence_ids("WJ", n, width),
        h["customer_id"]: _customer_ids(pop, feedback["cust"]),
        h["kind"]: _label(feedback["kind"], rng, {"nps": ("NPS",), "csat": ("CSAT",)}),
        h["score"]: int_text(feedback["score"]),
        h["responded_at"]: datetime_text(timeline.seconds(feedback["t"])),
        h["comment"]: _s(feedback["comment"]),
    }
    defects = [
        Defect("score is not a number", h["score"], ("十", "很好", "")),
        Defect("unknown survey type", h["kind"], ("CES", "问卷A")),
        Defect("missing customer id", h["customer_id"], ("",)),
        Defect("impossible date", h["responded_at"], _BAD_DATETIMES),
    ]
    cols, reasons = inject_columns(
        rng, cols, defects, bad_count(n), id_column=h["feedback_id"], new_id=lambda j: f"WJ{n + 1 + j:0{width}d}"
    )
    write_csv(path, cols)
    return reasons
