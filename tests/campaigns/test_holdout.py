"""Holdout assignment: reproducible from the seed, stratified, independent of listing order."""

from __future__ import annotations

import pytest

from kehu.models.holdout import HOLDOUT, TREATMENT, assign_arms


def _strata() -> dict[int, str]:
    return {cid: ("new" if cid < 300 else "at_risk" if cid < 1300 else "lost") for cid in range(1, 3001)}


def test_same_seed_same_arms_other_seed_other_arms() -> None:
    a = assign_arms(_strata(), share=0.1, seed=7)
    assert a == assign_arms(dict(reversed(list(_strata().items()))), share=0.1, seed=7)
    assert a != assign_arms(_strata(), share=0.1, seed=8)
    assert set(a.values()) == {TREATMENT, HOLDOUT}


def test_stratified_shares() -> None:
    strata = _strata()
    arms = assign_arms(strata, share=0.1, seed=1)
    for name, size in (("new", 299), ("at_risk", 1000), ("lost", 1701)):
        held = sum(1 for c, s in strata.items() if s == name and arms[c] == HOLDOUT)
        assert abs(held - 0.1 * size) < 1, (name, held)  # randomized rounding: floor or ceil of share * size


def test_adding_a_stratum_leaves_the_others_alone() -> None:
    strata = _strata()
    before = assign_arms(strata, share=0.2, seed=3)
    after = assign_arms({**strata, **{cid: "vip" for cid in range(5000, 5050)}}, share=0.2, seed=3)
    assert all(after[c] == arm for c, arm in before.items())


def test_small_strata_get_the_right_share_on_average() -> None:
    strata = {cid: f"s{cid}" for cid in range(4000)}  # 4000 strata of one customer each
    held = sum(arm == HOLDOUT for arm in assign_arms(strata, share=0.1, seed=0).values())
    assert 320 <= held <= 480  # binomial(4000, 0.1): mean 400, sd 19


@pytest.mark.parametrize("share", [0, 1, -0.1, 1.5])
def test_bad_share(share: float) -> None:
    with pytest.raises(ValueError, match="share"):
        assign_arms({1: "a"}, share=share, seed=0)
