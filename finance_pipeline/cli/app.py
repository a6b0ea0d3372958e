"""The `finance-pipeline` command group and what its commands share: one-line errors, the lake,
the Dagster instance.

Every error the user can cause (a date that is not a session, END before START, a future date,
an unknown dataset, malformed SQL, a bad lake path, a missing DAGSTER_HOME, any variable of the
environment with an unusable value) is printed as ONE
line on stderr with a non-zero exit code: 2 for bad input, 1 for work that failed, 130 when
interrupted. Never a traceback (FINANCE_PIPELINE_DEBUG=1 shows one for unexpected errors), never
a secret.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from finance_pipeline.calendar import SessionError
from finance_pipeline.redaction import redact
from finance_pipeline.router import InvalidRequest

if TYPE_CHECKING:
    import dagster as dg

    from finance_pipeline.lake import Lake

PROG = "finance-pipeline"
BAD_INPUT, FAILED, INTERRUPTED = 2, 1, 130


class CliError(click.ClickException):
    """A one-line error for the user; `exit_code` 2 = bad input, 1 = failed work."""

    def __init__(self, message: str, exit_code: int = BAD_INPUT) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]  # click declares it on the class


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"{PROG}: error: {' '.join(redact(str(message)).split())}", err=True)
    sys.exit(code)


class _Cli(click.Group):
    """Runs commands without click's standalone mode so every error becomes one line."""

    def main(  # type: ignore[override]
        self, args: Sequence[str] | None = None, prog_name: str | None = None, **extra: Any
    ) -> NoReturn:
        extra.pop("standalone_mode", None)
        try:
            result = super().main(args, prog_name or PROG, standalone_mode=False, **extra)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.exceptions.Abort:
            _fail("aborted", FAILED)
        except click.UsageError as exc:
            hint = f" (see {PROG} {exc.ctx.info_name} --help)" if exc.ctx else ""
            if exc.ctx and exc.ctx.parent is None:
                hint = f" (see {PROG} --help)"
            _fail(exc.format_message() + hint, BAD_INPUT)
        except click.ClickException as exc:
            _fail(exc.format_message(), exc.exit_code)
        except KeyboardInterrupt:
            _fail("interrupted", INTERRUPTED)
        except Exception as exc:  # the last resort: still one line, no secret
            if os.environ.get("FINANCE_PIPELINE_DEBUG"):
                raise
            _fail(
                f"unexpected {type(exc).__name__}: {exc} (set FINANCE_PIPELINE_DEBUG=1 for the "
                "traceback)",
                FAILED,
            )
        sys.exit(result if isinstance(result, int) else 0)


def domain_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the pipeline's own exceptions (whose messages are meant for people) into CliError."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from finance_pipeline.demo import DemoError
        from finance_pipeline.lake import LakeError, PartitionMissing
        from finance_pipeline.schemas import SchemaError

        try:
            return fn(*args, **kwargs)
        except (SessionError, InvalidRequest, SchemaError, DemoError) as exc:
            raise CliError(str(exc)) from None
        except (LakeError, PartitionMissing) as exc:
            raise CliError(str(exc), FAILED) from None

    return wrapper


@click.group(name=PROG, cls=_Cli, context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """finance_pipeline: a verified Parquet/DuckDB lake of US stock data from Polygon."""
    from finance_pipeline.configuration import ConfigError, validate

    try:
        validate()  # every variable, before any command reads one
    except ConfigError as exc:
        raise CliError(str(exc)) from None


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def open_lake() -> Lake:
    """The lake of FINANCE_PIPELINE_LAKE, refusing a local root that is a file."""
    from finance_pipeline.lake import lake_from_env
    from finance_pipeline.settings import LakeLocation

    location = LakeLocation.from_env()
    if not location.is_s3:
        root = Path(location.root)
        if root.exists() and not root.is_dir():
            raise CliError(f"FINANCE_PIPELINE_LAKE={root} is a file, not a directory")
        if not root.exists() and root.parent.exists() and not root.parent.is_dir():
            raise CliError(f"FINANCE_PIPELINE_LAKE={root}: {root.parent} is not a directory")
    try:
        return lake_from_env()
    except ValueError as exc:
        raise CliError(f"FINANCE_PIPELINE_LAKE: {exc}") from None


def open_instance() -> dg.DagsterInstance:
    """The Dagster instance of DAGSTER_HOME, which must be set and be a directory."""
    home = os.environ.get("DAGSTER_HOME", "").strip()
    if not home:
        raise CliError(
            "DAGSTER_HOME is not set: point it at the Dagster instance directory "
            "(the demo's is .demo/dagster_home)"
        )
    if not Path(home).is_dir():
        raise CliError(f"DAGSTER_HOME={home} is not a directory")
    from finance_pipeline.local_instance import get_instance

    return get_instance()


def main() -> None:
    """The console script."""
    import signal
    import warnings

    # SIGTERM stops a command as Ctrl-C does: one "interrupted" line, exit 130, no traceback.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    # Dagster flags the beta/preview features this code location opts into on every import.
    warnings.filterwarnings("ignore", message=r".*is currently in (beta|preview)")
    try:
        cli.main(prog_name=PROG)
    except SystemExit as done:
        code = _exit_code(done)
    # The command has closed its instance, lake and servers. Native libraries' threads could
    # still abort the interpreter's teardown ("terminate called without an active exception",
    # exit -6, seen after a complete `status --json` under load), so leave without it.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _exit_code(done: SystemExit) -> int:
    """The process exit code of a SystemExit (a message is printed, as Python does)."""
    if done.code is None or isinstance(done.code, int):
        return done.code or 0
    print(done.code, file=sys.stderr)
    return 1
