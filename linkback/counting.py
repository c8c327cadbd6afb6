"""Private visitor keys, the hashing-bin counter, fraud compensation and recency bias.

How a linkback's traffic is counted, in plain words:

* A *visitor key* is a keyed hash of the client's address (an IPv4 address, or the /64
  prefix of an IPv6 one, since one household gets a whole /64) and its user agent. The key
  is a random salt that changes every day and is deleted after, so yesterday's keys cannot
  be recomputed from an address: the address and user agent are never stored.
* Each day, each linkback has :data:`BINS` *bins*. A hit adds one to the bin its visitor key
  hashes to, so one client always lands in the same bin.
* The day's *value* adds up the bins, but no bin may give more than :data:`CAP_FACTOR`
  times the median of the other bins (and at least one). One client replaying a Referer a
  thousand times fills one bin, which is then worth what an ordinary bin is worth.
* *Visitors* is the number of distinct keys, estimated from how many bins are not empty
  (linear counting).
* *fraud_pct* is the share of raw hits the cap discarded.
* *Recency bias* tells whether traffic is growing or fading: ``20 × (c − 0.5)``, where ``c``
  is the centroid of the daily value over the linkback's life so far (0 = first day,
  1 = today), clamped to [−10, 10].

Bins are stored sparsely (only the non-empty ones), and because adding two bin sets is just
adding counts, a linkback's days can be merged exactly when two referrers turn out to be
the same entry.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
from array import array
from collections.abc import Iterable, Mapping

#: Bins per linkback per day. 4,096 keeps the visitor estimate within a few percent up to a
#: few thousand visitors a day while empty bins cost nothing (they are not stored).
BINS = 4096

#: A bin may give at most this many times the median of the other non-empty bins.
CAP_FACTOR = 2.0


def client_prefix(address: str) -> str:
    """The part of a client address that identifies it: the IPv4 address, or the IPv6 /64."""
    if ":" not in address and address.count(".") == 3:
        return address  # IPv4, by far the most common: no need to parse what is only hashed
    address = address.strip()
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address[:64]
    if ip.version == 6:
        mapped = ip.ipv4_mapped  # type: ignore[union-attr]
        if mapped is not None:
            return str(mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False).network_address)
    return str(ip)


def visitor_key(salt: bytes, address: str, user_agent: str) -> bytes:
    """A 16-byte keyed hash of (address or /64, user agent) under the day's ``salt``."""
    h = hashlib.blake2b(key=salt[:64], digest_size=16)
    h.update(client_prefix(address).encode("utf-8", "replace"))
    h.update(b"\x00")
    h.update(user_agent.encode("utf-8", "replace"))
    return h.digest()


def bin_of(key: bytes, bins: int = BINS) -> int:
    """The bin a visitor key falls in."""
    return int.from_bytes(key[:4], "little") % bins


def encode_bins(bins: Mapping[int, int]) -> bytes:
    """Sparse bins as bytes: (index, count) pairs of unsigned 32-bit integers."""
    flat = array("I")
    for index, count in bins.items():
        if count:
            flat.append(index)
            flat.append(min(count, 0xFFFFFFFF))
    return flat.tobytes()


def decode_bins(blob: bytes | None) -> dict[int, int]:
    if not blob:
        return {}
    flat = array("I")
    flat.frombytes(blob)
    return dict(zip(flat[::2], flat[1::2], strict=True))


def merge_bins(into: dict[int, int], other: Mapping[int, int]) -> dict[int, int]:
    for index, count in other.items():
        into[index] = into.get(index, 0) + count
    return into


def _median(values: list[int]) -> float:
    values.sort()
    n = len(values)
    mid = n // 2
    return float(values[mid]) if n % 2 else (values[mid - 1] + values[mid]) / 2.0


def compensated_value(bins: Mapping[int, int]) -> float:
    """The day's value: the sum of the bins, each capped relative to the others."""
    counts = [c for c in bins.values() if c > 0]
    if not counts:
        return 0.0
    if len(counts) == 1:
        return 1.0
    counts.sort()
    top = counts[-1]
    cap = max(1.0, math.ceil(CAP_FACTOR * _median(counts[:-1])))
    # The largest bin is capped against the rest; the rest against a cap that includes it
    # would let a single flooded bin raise its own limit.
    return float(sum(min(c, cap) for c in counts[:-1]) + min(top, cap))


def estimate_visitors(bins: Mapping[int, int], size: int = BINS) -> float:
    """Distinct visitor keys, estimated from the non-empty bins (linear counting)."""
    used = sum(1 for c in bins.values() if c > 0)
    if used == 0:
        return 0.0
    if used >= size:
        # Saturated: linear counting cannot tell more; the value is the better estimate.
        return max(float(size) * math.log(size), compensated_value(bins))
    return -size * math.log(1.0 - used / size)


def fraud_pct(hits: float, value: float) -> float:
    """Share of raw hits that fraud compensation discarded, in percent."""
    if hits <= 0:
        return 0.0
    return round(max(0.0, 100.0 * (hits - value) / hits), 1)


def recency_bias(daily: Iterable[tuple[int, float]], age_days: int) -> float:
    """``20 × (c − 0.5)`` clamped to [−10, 10] for ``(day index, value)`` pairs.

    ``day index`` counts from the first day seen (0) and ``age_days`` is today's index.
    On the first day nothing can be said yet and the bias is 0.
    """
    if age_days <= 0:
        return 0.0
    total = moment = 0.0
    for index, value in daily:
        total += value
        moment += value * min(max(index, 0), age_days)
    if total <= 0:
        return 0.0
    centroid = moment / (total * age_days)
    return round(max(-10.0, min(10.0, 20.0 * (centroid - 0.5))), 2)
