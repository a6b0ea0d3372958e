"""The README is the user's manual: it must stay true to the code."""

from pathlib import Path

from finance_pipeline.definitions import defs
from finance_pipeline.settings import ENV_VARS

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _section(title: str) -> str:
    start = README.index(f"## {title}")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else None]


def test_every_environment_variable_is_documented():
    table = _section("Configuration")
    missing = [name for name in ENV_VARS if f"| `{name}` |" not in table]
    assert not missing, f"undocumented variables: {missing}"


def test_every_asset_is_in_the_asset_table():
    table = _section("Architecture")
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    missing = sorted(key for key in keys if f"| `{key}` |" not in table)
    assert not missing, f"assets missing from the README: {missing}"


def test_ci_runs_the_readme_test_command():
    commands = [
        line.strip()
        for line in (ROOT / ".ci/run").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert commands[-1] == "make test"
    quick_start = _section("Quick start")
    assert "make test" in quick_start and "make demo" in quick_start


def test_benchmark_table_matches_the_results_file():
    import json

    figures = json.loads((ROOT / "bench/results.json").read_text())["figures"]
    table = _section("Benchmarks")
    for key, figure in figures.items():
        row = next((line for line in table.splitlines() if line.startswith(f"| `{key}` |")), None)
        assert row is not None, f"benchmark {key} missing from the README"
        met = {True: "yes", False: "**no**", None: "-"}[figure.get("target_met")]
        assert row.rstrip().endswith(f"| {met} |"), (key, row)
        value = figure["value"]
        shown = f"{value:,}" if isinstance(value, int) else f"{value:,.2f}"
        assert f"| {shown} {figure['unit']} |" in row, (key, row)
