"""The router's choice among sources already stored in the lake (the curated layer's rule)."""

import pytest

from finance_pipeline.router.model import InvalidRequest
from finance_pipeline.router.stored import pick_stored_source, source_rank, stored_sources


@pytest.mark.parametrize(
    ("dataset", "available", "expected"),
    [
        ("daily_bars", {"flat_file", "grouped_daily"}, "flat_file"),
        ("daily_bars", ["grouped_daily", "flat_file"], "flat_file"),  # order given is irrelevant
        ("daily_bars", {"grouped_daily"}, "grouped_daily"),
        ("daily_bars", {"flat_file"}, "flat_file"),
        ("daily_bars", set(), "unavailable"),
        ("minute_bars", {"flat_file", "rest"}, "flat_file"),
        ("minute_bars", {"rest"}, "rest"),
        ("minute_bars", {"flat_file"}, "flat_file"),
        ("minute_bars", (), "unavailable"),
        ("minute_bars", iter(["rest", "rest"]), "rest"),  # any iterable, duplicates harmless
    ],
)
def test_pick_stored_source_prefers_flat_files(dataset, available, expected):
    assert pick_stored_source(dataset, available) == expected


@pytest.mark.parametrize(
    ("dataset", "available", "message"),
    [
        ("daily_bars", {"rest"}, "daily_bars cannot be served from rest"),
        ("minute_bars", {"grouped_daily", "flat_file"}, "cannot be served from grouped_daily"),
        ("universe", {"reference"}, "'universe' has no stored sources"),
        ("corporate_actions", set(), "'corporate_actions' has no stored sources"),
        ("weekly_bars", {"flat_file"}, "'weekly_bars' has no stored sources"),
    ],
)
def test_pick_stored_source_refuses_what_cannot_serve(dataset, available, message):
    with pytest.raises(InvalidRequest, match=message):
        pick_stored_source(dataset, available)


@pytest.mark.parametrize(
    ("dataset", "source", "rank"),
    [
        ("daily_bars", "flat_file", 1),
        ("daily_bars", "grouped_daily", 2),
        ("daily_bars", "rest", 0),
        ("minute_bars", "flat_file", 1),
        ("minute_bars", "rest", 2),
        ("minute_bars", "unavailable", 0),
    ],
)
def test_source_rank(dataset, source, rank):
    assert source_rank(dataset, source) == rank


@pytest.mark.parametrize("dataset", ["daily_bars", "minute_bars"])
def test_stored_sources_name_lake_datasets_in_preference_order(dataset):
    from finance_pipeline.schemas import DATASETS

    pairs = stored_sources(dataset)
    assert pairs[0][0] == "flat_file"
    assert all(raw in DATASETS for _, raw in pairs)
    # The stored preference agrees with the live router's: flat file first, then the API path.
    assert [source_rank(dataset, source) for source, _ in pairs] == [1, 2]
