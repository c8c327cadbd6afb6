from __future__ import annotations

import secrets

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linkback import counting

SALT = b"s" * 32
UA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def bins_of(clients: list[tuple[str, str]], salt: bytes = SALT) -> dict[int, int]:
    bins: dict[int, int] = {}
    for address, agent in clients:
        index = counting.bin_of(counting.visitor_key(salt, address, agent))
        bins[index] = bins.get(index, 0) + 1
    return bins


def distinct(n: int) -> list[tuple[str, str]]:
    return [("198.51.%d.%d" % (i // 256, i % 256), UA) for i in range(n)]


@pytest.mark.parametrize(
    ("address", "prefix"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::"),
        ("2001:db8:1:2:bbbb:cccc:dddd:eeee", "2001:db8:1:2::"),
        ("::ffff:203.0.113.9", "203.0.113.9"),
        ("fe80::1%eth0", "fe80::"),
        ("not an address", "not an address"),
    ],
)
def test_client_prefix(address: str, prefix: str) -> None:
    assert counting.client_prefix(address) == prefix


def test_visitor_key_is_keyed_and_per_client() -> None:
    key = counting.visitor_key(SALT, "203.0.113.9", UA)
    assert len(key) == 16
    assert key == counting.visitor_key(SALT, "203.0.113.9", UA)
    assert key != counting.visitor_key(b"t" * 32, "203.0.113.9", UA), "the salt must change the key"
    assert key != counting.visitor_key(SALT, "203.0.113.10", UA)
    assert key != counting.visitor_key(SALT, "203.0.113.9", UA + " x")
    # One household's IPv6 /64 with one browser is one visitor.
    assert counting.visitor_key(SALT, "2001:db8::1", UA) == counting.visitor_key(SALT, "2001:db8::2", UA)


def test_one_client_repeating_is_worth_one_visit() -> None:
    bins = bins_of([("203.0.113.9", UA)] * 1000)
    value = counting.compensated_value(bins)
    assert value <= 5
    assert counting.fraud_pct(1000, value) >= 99
    assert counting.estimate_visitors(bins) == pytest.approx(1, abs=0.01)


def test_distinct_clients_count_in_full() -> None:
    bins = bins_of(distinct(200))
    value = counting.compensated_value(bins)
    assert value == pytest.approx(200, rel=0.10)
    assert counting.estimate_visitors(bins) == pytest.approx(200, rel=0.10)
    assert counting.fraud_pct(200, value) <= 5


@pytest.mark.parametrize("seed", range(5))
def test_distinct_clients_hold_for_any_salt(seed: int) -> None:
    bins = bins_of(distinct(200), salt=secrets.token_bytes(32))
    assert counting.compensated_value(bins) == pytest.approx(200, rel=0.10)
    assert counting.estimate_visitors(bins) == pytest.approx(200, rel=0.10)


def test_flood_among_real_visitors_is_capped() -> None:
    bins = bins_of(distinct(100) + [("203.0.113.9", UA)] * 10_000)
    value = counting.compensated_value(bins)
    assert 100 <= value <= 105
    assert counting.fraud_pct(10_100, value) >= 98


def test_regular_readers_returning_are_kept() -> None:
    # Three readers who each came back five times: nothing is out of proportion.
    bins = bins_of([("203.0.113.%d" % i, UA) for i in range(3)] * 5)
    assert counting.compensated_value(bins) == 15


def test_visitor_estimate_at_larger_counts() -> None:
    bins = bins_of(distinct(3000))
    assert counting.estimate_visitors(bins) == pytest.approx(3000, rel=0.10)


def test_empty_and_single() -> None:
    assert counting.compensated_value({}) == 0
    assert counting.estimate_visitors({}) == 0
    assert counting.compensated_value({7: 3}) == 1
    assert counting.fraud_pct(0, 0) == 0


@given(st.dictionaries(st.integers(0, counting.BINS - 1), st.integers(1, 2**31)))
def test_bins_round_trip(bins: dict[int, int]) -> None:
    assert counting.decode_bins(counting.encode_bins(bins)) == bins


@given(st.lists(st.integers(0, 500), min_size=1, max_size=300), st.integers(1, 299))
def test_bins_merge_exactly(indexes: list[int], split: int) -> None:
    whole: dict[int, int] = {}
    for i in indexes:
        whole[i] = whole.get(i, 0) + 1
    first: dict[int, int] = {}
    second: dict[int, int] = {}
    for n, i in enumerate(indexes):
        part = first if n < split else second
        part[i] = part.get(i, 0) + 1
    merged = counting.merge_bins(first, second)
    assert merged == whole
    assert counting.compensated_value(merged) == counting.compensated_value(whole)


@given(st.dictionaries(st.integers(0, counting.BINS - 1), st.integers(1, 10_000), min_size=1))
def test_value_is_between_one_and_the_hits(bins: dict[int, int]) -> None:
    value = counting.compensated_value(bins)
    assert 1 <= value <= sum(bins.values())
    assert 0 <= counting.fraud_pct(sum(bins.values()), value) <= 100


@pytest.mark.parametrize(
    ("daily", "age", "expected"),
    [
        pytest.param([(0, 50.0)], 10, -10.0, id="first day only, then nothing"),
        pytest.param([(i, 5.0) for i in range(11)], 10, 0.0, id="level"),
        pytest.param([(10, 5.0)], 10, 10.0, id="all today"),
        pytest.param([(0, 5.0)], 0, 0.0, id="first day: unknown yet"),
        pytest.param([], 10, 0.0, id="no traffic"),
    ],
)
def test_recency_bias(daily: list[tuple[int, float]], age: int, expected: float) -> None:
    assert counting.recency_bias(daily, age) == expected


def test_recency_bias_growing_is_positive_and_fading_negative() -> None:
    growing = [(i, float(i)) for i in range(11)]
    fading = [(i, float(10 - i)) for i in range(11)]
    assert 0 < counting.recency_bias(growing, 10) <= 10
    assert -10 <= counting.recency_bias(fading, 10) < 0
