"""The axis-order rule of the legacy import, on plain numbers."""

from __future__ import annotations

import math

import pytest

from udaconnect.legacy.axis_order import AMBIGUOUS, OUT_OF_RANGE, Anchors, Order, by_range, decide


@pytest.mark.parametrize(
    ("x", "y", "order", "reason"),
    [
        (-122.290883, 37.55363, Order.AS_STORED, ""),  # the seed's Bay Area rows: (lon, lat)
        (35.0585136, -106.5719566, Order.SWAPPED, ""),  # the seed's Albuquerque rows: (lat, lon)
        (139.69, 35.69, Order.AS_STORED, ""),  # Tokyo, east longitude
        (-33.87, 151.21, Order.SWAPPED, ""),  # Sydney stored (lat, lon)
        (7.0, 7.0, Order.AS_STORED, ""),  # same point both ways
        (180.0, 90.0, Order.AS_STORED, ""),  # the edges are valid
        (200.0, 10.0, None, OUT_OF_RANGE),  # no longitude is 200 degrees
        (120.0, 100.0, None, OUT_OF_RANGE),
        (math.nan, 10.0, None, OUT_OF_RANGE),
        (10.75, 59.91, None, ""),  # Oslo: both readings valid, undecided by range
    ],
)
def test_by_range(x, y, order, reason):
    verdict = by_range(x, y)
    assert (verdict.order, verdict.reason) == (order, reason)


def test_lon_lat_applies_the_order_and_refuses_without_one():
    assert by_range(35.0, -106.0).lon_lat(35.0, -106.0) == (-106.0, 35.0)
    with pytest.raises(ValueError, match="out of range"):
        by_range(200.0, 300.0).lon_lat(200.0, 300.0)


def test_ambiguous_point_follows_the_nearby_anchors():
    memphis = Anchors()
    memphis.observe(35.149, -90.049)  # certain: stored (lat, lon)
    assert len(memphis) == 1
    assert decide(35.15, -89.97, memphis).order is Order.SWAPPED  # 7 km away, stored the same way
    assert decide(-89.97, 35.15, memphis).order is Order.AS_STORED
    far = decide(10.75, 59.91, memphis)
    assert far.order is None and far.reason == AMBIGUOUS
    # a certain point is never overruled by the anchors
    assert decide(-122.29, 37.55, memphis).order is Order.AS_STORED


def test_near_means_same_or_neighbouring_cell_only():
    oslo = Anchors([(10.7522, 59.9139)])
    assert oslo.near(10.9, 59.8) and not oslo.near(11.5, 59.9) and not oslo.near(10.75, 60.5)
    assert decide(59.91, 10.75, oslo).order is Order.SWAPPED
    both = Anchors([(10.0, 20.0), (20.0, 10.0)])
    assert decide(10.0, 20.0, both).reason == AMBIGUOUS  # either reading is plausible: reported


def test_anchors_wrap_around_the_antimeridian():
    fiji = Anchors([(179.9, -17.0)])
    assert fiji.near(-179.95, -17.0) and not fiji.near(-179.0, -17.0)
