"""The hidden truth of the demo company: who each customer is and how they behave.

Every customer belongs to an *archetype* that sets their mean purchase rate, lifetime and price tier;
within an archetype rates are Gamma-distributed, lifetimes exponential (a Pareto/NBD-style dropout), and
a latent satisfaction ``z ~ N(0, 1)`` lengthens lifetimes, raises B2B renewal odds, and later drives
survey scores and complaints. B2B customers live from yearly contract to yearly contract: each renewal
happens with a per-customer probability, and the first one not renewed ends the relationship.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from kehu.demo.catalog import B2B_CHANNELS, B2C_CHANNELS, CITIES, TEAMS
from kehu.demo.formats import sequence_ids
from kehu.demo.people import (
    company_emails,
    company_names,
    person_emails,
    person_names,
    unique_mobiles,
)
from kehu.demo.seasons import Timeline, time_of_day

__all__ = ["ARCHETYPES", "Archetype", "Owner", "Population", "make_owners", "make_population"]


class Archetype(NamedTuple):
    name: str
    b2b: bool
    weight: float  # share within B2C or within B2B
    rate: float  # mean purchases per day at seasonal multiplier 1
    shape: float  # Gamma shape of the purchase rate across customers
    life: float  # B2C: mean lifetime in days; B2B: base renewal probability
    promo: bool  # buys mostly in festivals
    tiers: tuple[float, float, float]  # price tier preference


ARCHETYPES: tuple[Archetype, ...] = (
    Archetype("loyal", False, 0.12, 1 / 28, 3.0, 1800.0, False, (0.25, 0.40, 0.35)),
    Archetype("regular", False, 0.30, 1 / 65, 2.5, 900.0, False, (0.45, 0.40, 0.15)),
    Archetype("promo_hunter", False, 0.18, 1 / 110, 2.0, 700.0, True, (0.60, 0.30, 0.10)),
    Archetype("occasional", False, 0.22, 1 / 180, 2.0, 600.0, False, (0.50, 0.35, 0.15)),
    Archetype("one_time", False, 0.12, 1 / 500, 2.0, 120.0, False, (0.50, 0.30, 0.20)),
    Archetype("browser", False, 0.06, 0.0, 1.0, 200.0, False, (1.0, 0.0, 0.0)),
    Archetype("key_account", True, 0.25, 1 / 20, 4.0, 0.88, False, (0.0, 0.0, 1.0)),
    Archetype("smb", True, 0.75, 1 / 45, 3.0, 0.70, False, (0.0, 1.0, 0.0)),
)
_B2C = [i for i, a in enumerate(ARCHETYPES) if not a.b2b]
_B2B = [i for i, a in enumerate(ARCHETYPES) if a.b2b]


@dataclass(frozen=True)
class Owner:
    """A sales rep or manager who owns customers (becomes a user of the app store)."""

    name: str
    role: str  # "rep" | "manager"
    team: str


@dataclass
class Population:
    """Per-customer arrays (index = customer); times are float days since the timeline start."""

    ids: np.ndarray
    is_b2b: np.ndarray
    arch: np.ndarray
    z: np.ndarray  # latent satisfaction
    rate: np.ndarray  # purchases per day at seasonal multiplier 1
    signup: np.ndarray
    first_purchase: np.ndarray  # nan: never buys (within the history)
    churn: np.ndarray  # inf: lives past the history
    city: np.ndarray
    team: np.ndarray
    owner: np.ndarray
    channel: np.ndarray  # acquisition channel index into B2C_CHANNELS or B2B_CHANNELS
    name: np.ndarray
    pinyin: np.ndarray
    phone: np.ndarray  # int64 mobile
    email: np.ndarray
    company: np.ndarray
    industry: np.ndarray
    first_contact: np.ndarray  # nan where unknown
    contract_start: np.ndarray  # B2B: first day of the first contract (float day, month-aligned); nan for B2C
    terms: np.ndarray  # B2B: contract terms signed in total (incl. future ones); 0 for B2C
    terminated: np.ndarray  # B2B: last term ended early

    @property
    def n(self) -> int:
        return int(self.ids.size)

    @property
    def churned(self) -> np.ndarray:
        return np.isfinite(self.churn)


def make_owners(rng: np.random.Generator) -> tuple[list[Owner], list[list[int]]]:
    """Managers and reps of the sales teams; returns the owners and, per team, the indices of its reps."""
    size = sum(reps + 1 for _, reps in TEAMS)
    names, _, _ = person_names(rng, size * 3, rare_share=0.0)
    unique = list(dict.fromkeys(names.tolist()))[:size]
    owners: list[Owner] = []
    reps_of: list[list[int]] = []
    k = 0
    for team, reps in TEAMS:
        owners.append(Owner(unique[k], "manager", team))
        k += 1
        reps_of.append(list(range(k, k + reps)))
        owners.extend(Owner(unique[k + j], "rep", team) for j in range(reps))
        k += reps
    return owners, reps_of


def _month_start_after(t: np.ndarray, timeline: Timeline) -> np.ndarray:
    """Float day of the first day of the month after each float day ``t``."""
    days = np.datetime64(timeline.start, "D") + np.floor(t).astype(np.int64)
    nxt = (days.astype("datetime64[M]") + 1).astype("datetime64[D]")
    return (nxt - np.datetime64(timeline.start, "D")).astype(float)


def _add_months(t: np.ndarray, months: np.ndarray, timeline: Timeline) -> np.ndarray:
    days = np.datetime64(timeline.start, "D") + np.floor(t).astype(np.int64)
    moved = (days.astype("datetime64[M]") + months).astype("datetime64[D]")
    return (moved - np.datetime64(timeline.start, "D")).astype(float)


def make_population(
    rng: np.random.Generator,
    n: int,
    timeline: Timeline,
    owners: list[Owner],
    reps_of: list[list[int]],
    *,
    b2b_share: float = 0.10,
) -> Population:
    """Draw ``n`` customers with their hidden behaviour; see the module docstring."""
    horizon = float(timeline.n_days)
    width = max(6, len(str(n)))
    ids = np.asarray(sequence_ids("C", n, width).to_numpy(zero_copy_only=False), dtype=object)
    n_b2b = round(n * b2b_share) if n >= 20 else int(n >= 3)
    is_b2b = np.zeros(n, dtype=bool)
    is_b2b[rng.choice(n, size=n_b2b, replace=False)] = True

    arch = np.empty(n, dtype=np.int64)
    w_c = np.array([ARCHETYPES[i].weight for i in _B2C])
    w_b = np.array([ARCHETYPES[i].weight for i in _B2B])
    arch[~is_b2b] = np.array(_B2C)[rng.choice(len(_B2C), size=n - n_b2b, p=w_c / w_c.sum())]
    arch[is_b2b] = np.array(_B2B)[rng.choice(len(_B2B), size=n_b2b, p=w_b / w_b.sum())]
    mean_rate = np.array([a.rate for a in ARCHETYPES])[arch]
    shape = np.array([a.shape for a in ARCHETYPES])[arch]
    life = np.array([a.life for a in ARCHETYPES])[arch]
    z = rng.standard_normal(n)
    rate = rng.gamma(shape, mean_rate / shape)

    # Sign-ups grow over the history and come in waves with the shopping festivals.
    trend = timeline.season * (0.4 + 1.2 * np.arange(timeline.n_days) / timeline.n_days)
    cum = np.concatenate([[0.0], np.cumsum(trend)])
    grid = np.arange(cum.size, dtype=float)
    signup = time_of_day(rng, np.interp(rng.random(n) * cum[-1], cum, grid))

    # B2C: first purchase right at or soon after sign-up; lifetime exponential, longer when satisfied.
    buys = (mean_rate > 0) & ~is_b2b
    delay = np.where(rng.random(n) < 0.7, rng.random(n) * 0.2, rng.exponential(4.0, n))
    first = np.where(buys, signup + delay, np.nan)
    first = np.where(first < horizon, first, np.nan)
    lifetime = rng.exponential(life * np.exp(0.35 * z))
    churn = np.where(buys, first, signup) + lifetime
    churn = np.where(is_b2b, np.inf, churn)

    # B2B: contract chain. Terms counted until the first non-renewal (geometric), some end early.
    logit = np.log(life / (1 - np.where(is_b2b, life, 0.5))) + 0.8 * z
    renew = np.where(is_b2b, 1 / (1 + np.exp(-logit)), 0.0)
    terms = np.where(is_b2b, rng.geometric(np.clip(1 - renew, 1e-6, 1.0)), 0)
    start0 = np.where(is_b2b, _month_start_after(signup, timeline), np.nan)
    b2b_end = _add_months(np.nan_to_num(start0), 12 * terms, timeline)
    terminated = is_b2b & (rng.random(n) < 0.06)
    b2b_end = np.where(terminated, b2b_end - 365 + rng.uniform(60, 300, n), b2b_end)
    churn = np.where(is_b2b & (b2b_end <= horizon), b2b_end, churn)
    churn = np.where(churn <= horizon, churn, np.inf)
    first = np.where(is_b2b & (start0 < horizon), start0, first)
    terminated &= np.isfinite(churn)

    city_w = np.array([c.weight for c in CITIES])
    city = rng.choice(len(CITIES), size=n, p=city_w / city_w.sum())
    team = np.array([c.team for c in CITIES])[city]
    channel = np.where(
        is_b2b,
        rng.choice(len(B2B_CHANNELS), size=n, p=np.array([w for _, w in B2B_CHANNELS])),
        rng.choice(len(B2C_CHANNELS), size=n, p=np.array([w for _, w in B2C_CHANNELS])),
    )
    # Owners: every B2B account (managers keep some key accounts), and a share of valuable consumers.
    owner = np.full(n, None, dtype=object)
    pick = rng.random(n)
    is_key = np.array([a.name == "key_account" for a in ARCHETYPES])[arch]
    loyal = np.array([a.name == "loyal" for a in ARCHETYPES])[arch]
    rep_pick = rng.integers(0, 1 << 30, size=n)
    owned = is_b2b | (loyal & (pick < 0.6)) | (~is_b2b & ~loyal & (pick < 0.05))
    manager_of = np.array(
        [next(i for i, o in enumerate(owners) if o.role == "manager" and o.team == t) for t, _ in TEAMS]
    )
    for i in np.flatnonzero(owned):
        reps = reps_of[team[i]]
        by_manager = is_key[i] and pick[i] < 0.12
        owner[i] = owners[manager_of[team[i]] if by_manager else reps[rep_pick[i] % len(reps)]].name

    name, pinyin, split = person_names(rng, n)
    phone = unique_mobiles(rng, n)
    email = person_emails(rng, pinyin, (rng.random(n) < 0.45) & ~is_b2b)
    company = np.full(n, None, dtype=object)
    industry = np.full(n, None, dtype=object)
    b = np.flatnonzero(is_b2b)
    comp, ind, domain = company_names(rng, city[b])
    company[b], industry[b] = comp, ind
    work = company_emails(rng, pinyin[b], split[b], domain)
    work[rng.random(b.size) >= 0.9] = None  # some contacts never gave an e-mail
    email[b] = work
    first_contact = np.where(is_b2b, signup - rng.uniform(20, 200, n), np.nan)

    return Population(
        ids=ids,
        is_b2b=is_b2b,
        arch=arch,
        z=z,
        rate=rate,
        signup=signup,
        first_purchase=first,
        churn=churn,
        city=city,
        team=team,
        owner=owner,
        channel=channel,
        name=name,
        pinyin=pinyin,
        phone=phone,
        email=email,
        company=company,
        industry=industry,
        first_contact=first_contact,
        contract_start=start0,
        terms=terms,
        terminated=terminated,
    )
