"""The Parquet lake: one file per (dataset, session), on a local disk or S3. No Dagster here.

- `layout`: where every file lives (`<root>/<dataset>/session=YYYY-MM-DD/part-0.parquet`), how
  session directories are named and parsed, and how stored sessions are listed; the warehouse
  reads the lake through it too;
- `store`: `Lake`, which writes, reads and lists a dataset's files;
- `conform`: rows fitted to a dataset's schema and split by session before they are written;
- `file_format`: the deterministic Parquet bytes of a file;
- `local` / `s3`: atomic storage of those bytes on a disk or in a bucket;
- `errors`: what the lake raises and what a write reports.
"""

from finance_pipeline.calendar import SessionError
from finance_pipeline.lake.errors import LakeError, PartitionMissing, SessionMismatch, WriteResult
from finance_pipeline.lake.store import Lake, lake_from_env
from finance_pipeline.schemas import SchemaError

__all__ = [
    "Lake",
    "LakeError",
    "PartitionMissing",
    "SchemaError",
    "SessionError",
    "SessionMismatch",
    "WriteResult",
    "lake_from_env",
]
