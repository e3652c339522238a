"""The survey's irrelevance test (survey._dependence): a small real dependence behind a large
one is found once the node's other leaves are accounted for; an unrelated leaf is not."""

from __future__ import annotations

import math

import numpy as np

from nodered_causal.experiment.survey import _dependence, _spearman


def test_a_rate_hidden_behind_the_amount_is_found() -> None:
    rng = np.random.default_rng(7)
    n = 150
    amount = np.exp(3.5 + 0.4 * rng.normal(size=n))  # payment-retry's new payments
    rate = 0.015 + 0.001 * rng.normal(size=n)
    attempt = rng.integers(0, 3, size=n).astype(float)
    noise = rng.normal(size=n)  # a leaf the fee never reads
    fee = amount * rate + 0.25
    chance = 3 / math.sqrt(n)
    # alone the rate looks unrelated to the fee: the amount's spread hides it
    assert abs(_spearman(rate, fee)) < chance
    # given the amount it explains nearly all that is left
    assert _dependence(rate, fee, [amount, attempt, noise]) > 0.8
    assert _dependence(amount, fee, [rate, attempt, noise]) > 0.8
    assert _dependence(noise, fee, [amount, rate, attempt]) < chance
    assert _dependence(noise, fee, []) < chance


def test_a_leaf_the_others_determine_is_never_judged_irrelevant() -> None:
    rng = np.random.default_rng(3)
    a = rng.normal(size=100)
    twice = 2 * a  # the same information: nothing left once a is known
    y = rng.normal(size=100)
    assert _dependence(twice, y, [a]) == 1.0
