"""Who the demo customers are: Chinese names, unique mobile numbers, e-mail addresses and companies."""

from __future__ import annotations

import numpy as np

from kehu.demo.catalog import BRANDS, CITIES, COMPANY_SUFFIXES, GIVEN, INDUSTRIES, RARE_GIVEN, SURNAMES

__all__ = ["company_emails", "company_names", "person_emails", "person_names", "unique_mobiles"]

# Mainland mobile prefixes (China Mobile, Unicom, Telecom, Broadnet) with rough weights.
_PREFIXES = np.array(
    [
        134,
        135,
        136,
        137,
        138,
        139,
        147,
        150,
        151,
        152,
        157,
        158,
        159,
        178,
        182,
        183,
        187,
        188,
        198,
        130,
        131,
        132,
        155,
        156,
        166,
        175,
        176,
        185,
        186,
        133,
        153,
        173,
        177,
        180,
        181,
        189,
        191,
        199,
        192,
    ]
)
_CONSUMER_DOMAINS = (
    ("qq.com", 0.36),
    ("163.com", 0.24),
    ("126.com", 0.08),
    ("sina.com", 0.05),
    ("foxmail.com", 0.06),
    ("outlook.com", 0.07),
    ("gmail.com", 0.05),
    ("icloud.com", 0.09),
)


def _weights(values: tuple[tuple[str, float], ...] | tuple[tuple[str, str, float], ...]) -> np.ndarray:
    w = np.array([row[-1] for row in values], dtype=float)
    return w / w.sum()


def person_names(
    rng: np.random.Generator, n: int, *, rare_share: float = 0.006
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Chinese personal names (surname + one or two given characters).

    Parameters
    ----------
    rng
        Random generator.
    n
        How many names.
    rare_share
        Share of names with one rare character (several outside GBK, so files must be GB18030).

    Returns
    -------
    tuple of numpy.ndarray
        ``(names, pinyin, split)``: names and their lower-case romanization (for e-mail handles) as object
        arrays, and where the surname ends in the romanization.
    """
    sur = rng.choice(len(SURNAMES), size=n, p=_weights(SURNAMES))
    two = rng.random(n) < 0.72
    g1 = rng.integers(0, len(GIVEN), size=n)
    g2 = rng.integers(0, len(GIVEN), size=n)
    rare = rng.random(n) < rare_share
    rare_pick = rng.integers(0, len(RARE_GIVEN), size=n)
    names = np.empty(n, dtype=object)
    pinyin = np.empty(n, dtype=object)
    for i in range(n):
        s_char, s_py, _ = SURNAMES[sur[i]]
        chars = [GIVEN[g1[i]], GIVEN[g2[i]]] if two[i] else [GIVEN[g1[i]]]
        if rare[i]:
            chars[-1] = RARE_GIVEN[rare_pick[i]]
        names[i] = s_char + "".join(c for c, _ in chars)
        pinyin[i] = s_py + "".join(p for _, p in chars)
    split = np.array([len(SURNAMES[k][1]) for k in range(len(SURNAMES))])[sur]
    return names, pinyin, split


def unique_mobiles(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` distinct 11-digit mainland mobile numbers as int64, in random order."""
    out = np.empty(0, dtype=np.int64)
    while out.size < n:
        k = (n - out.size) + 16
        cand = rng.choice(_PREFIXES, size=k).astype(np.int64) * 100_000_000 + rng.integers(0, 100_000_000, size=k)
        merged = np.concatenate([out, cand])
        _, first = np.unique(merged, return_index=True)
        out = merged[np.sort(first)]
    return out[:n]


def _dedupe(emails: np.ndarray, salt: np.ndarray) -> np.ndarray:
    """Make e-mail addresses unique by appending a number to the local part of repeats."""
    emails = emails.copy()
    seen: set[str] = set()
    for i, e in enumerate(emails):
        if e is None:
            continue
        if e in seen:
            local, domain = e.split("@", 1)
            e = f"{local}{salt[i]}@{domain}"
            while e in seen:
                local = local + "x"
                e = f"{local}{salt[i]}@{domain}"
            emails[i] = e
        seen.add(e)
    return emails


def person_emails(rng: np.random.Generator, pinyin: np.ndarray, has_email: np.ndarray) -> np.ndarray:
    """Consumer e-mail addresses (QQ numbers, pinyin handles with a year or number); None where absent."""
    n = pinyin.size
    domains = np.array([d for d, _ in _CONSUMER_DOMAINS], dtype=object)
    dom = domains[rng.choice(len(domains), size=n, p=_weights(_CONSUMER_DOMAINS))]
    qq = rng.integers(100_000, 3_999_999_999, size=n)
    year = rng.integers(1962, 2006, size=n)
    style = rng.random(n)
    out = np.empty(n, dtype=object)
    for i in range(n):
        if not has_email[i]:
            out[i] = None
        elif dom[i] == "qq.com" and style[i] < 0.7:
            out[i] = f"{qq[i]}@qq.com"
        elif style[i] < 0.5:
            out[i] = f"{pinyin[i]}{year[i]}@{dom[i]}"
        elif style[i] < 0.8:
            out[i] = f"{pinyin[i]}{year[i] % 100:02d}@{dom[i]}"
        else:
            out[i] = f"{pinyin[i]}_{qq[i] % 1000}@{dom[i]}"
    return _dedupe(out, np.arange(n))


def company_names(rng: np.random.Generator, city: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Company names such as 杭州恒达网络科技有限公司 for B2B customers in the given city indices.

    Returns
    -------
    tuple of numpy.ndarray
        ``(company, industry, domain)`` object arrays; ``domain`` is the company's e-mail domain.
    """
    n = city.size
    brand = rng.integers(0, len(BRANDS), size=n)
    industry = np.array(INDUSTRIES, dtype=object)[rng.integers(0, len(INDUSTRIES), size=n)]
    tld = np.where(rng.random(n) < 0.6, "com", "com.cn")
    company = np.empty(n, dtype=object)
    domain = np.empty(n, dtype=object)
    for i in range(n):
        c = CITIES[city[i]]
        word, dword = COMPANY_SUFFIXES[industry[i]]
        b, b_py = BRANDS[brand[i]]
        company[i] = f"{c.name.removesuffix('市')}{b}{word}"
        domain[i] = f"{c.pinyin[:2]}{b_py}{dword}.{tld[i]}"
    return company, industry, domain


def company_emails(
    rng: np.random.Generator, pinyin: np.ndarray, surname_len: np.ndarray, domain: np.ndarray
) -> np.ndarray:
    """Work e-mail addresses at company domains (``given.surname@`` or ``surname+initials@``)."""
    style = rng.random(pinyin.size)
    out = np.empty(pinyin.size, dtype=object)
    for i, py in enumerate(pinyin):
        sur, given = py[: surname_len[i]], py[surname_len[i] :]
        local = f"{given}.{sur}" if style[i] < 0.6 or not given else f"{sur}{given[0]}"
        out[i] = f"{local}@{domain[i]}"
    return _dedupe(out, np.arange(pinyin.size))
