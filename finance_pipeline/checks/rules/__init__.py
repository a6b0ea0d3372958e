"""Check rules: pure pandas/pyarrow logic that turns data into verdicts. No Dagster here.

- `verdicts`: Severity, Verdict, folding per-session verdicts, offender lists;
- `frames`: exchange test symbols, OTC rows, relative differences;
- `comparison`: one data path against another for the same session (reconciliation);
- `coverage`: the universe snapshot against the session's traded tickers;
- `quality`: data-quality rules for one stored bars partition;
- `freshness`: when each source's session is due in the lake.

The Dagster checks in `finance_pipeline.checks` read the lake and wrap these verdicts.
"""
