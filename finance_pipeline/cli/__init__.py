"""`finance-pipeline`: plan, backfill, query, status, verify,
accept, sandbox, demo and ui from a shell. Each
command module only parses arguments and prints; the work is done by the modules it calls."""

from finance_pipeline.cli import fetch, local, read, verify
from finance_pipeline.cli.app import cli, main

__all__ = ["cli", "fetch", "local", "main", "read", "verify"]
