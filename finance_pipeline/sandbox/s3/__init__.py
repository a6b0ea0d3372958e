"""The sandbox's flat files (a package): moto's S3 server in a child process, fed by a publisher.

Why a child process: moto keeps its S3 state in process-global backends with one global bucket
namespace, so two sandboxes in one process (a session fixture plus a fresh one) could not both
own a bucket named `flatfiles`. A child per sandbox isolates them and dies with the sandbox.

The child (`child`) runs moto's WSGI app behind `Gate`, a small middleware that
- accepts the sandbox's access key id only (the free plan's key is refused with AccessDenied,
  an unknown key with InvalidAccessKeyId, a request without SigV4 auth with AccessDenied);
- when given the client's secret, verifies the SigV4 signature of client requests as S3 does
  (Authorization header or presigned query; moto itself does not): the canonical request is
  rebuilt from the raw path and query as sent, the signed headers and x-amz-content-sha256
  (payload bytes are not hashed), and a mismatch is 403 SignatureDoesNotMatch;
- counts client S3 operations (ListObjectsV2, GetObject, HeadObject, ...) by status, readable
  through a token-guarded `/_sandbox/counters` path (the publisher's own writes use a private
  admin key and are not counted);
- before a client request touches `us_stocks_sip/...`, asks the parent to publish whatever is
  due under that prefix or key (`/_sandbox/ensure` on the REST server), so large minute files
  are generated lazily, on first list/head/get, never all at startup;
- answers a GET/HEAD of a missing weekday object under `us_stocks_sip/` with 403 AccessDenied,
  as the vendor's S3 does for an object not published yet (weekends stay 404 NoSuchKey).

Publishing (parent side, `publisher.FlatFilePublisher`): a session's object is due once the
sandbox clock reaches publish_time New York on the calendar day after the session (plus any
`late` delay); it is put with boto3 `put_object`. Day files are published eagerly (at start,
on every clock move, on `publish_due()`); minute files lazily as above (or eagerly with
`publish_due(minute=True)`). With a live clock (`now=None`) files that fall due as real time
passes are published by the same on-access hook. Moving the clock back deletes objects that are
no longer due. An object's LastModified is the real time it was put (moto's clock), not the
sandbox clock.

Files (`objects`): `us_stocks_sip/{day_aggs_v1,minute_aggs_v1}/YYYY/MM/YYYY-MM-DD.csv.gz`,
header exactly `ticker,volume,open,close,high,low,window_start,transactions`, ns timestamps,
raw prices, the same numbers as REST with adjusted=false. OTC names are not in flat files
(they are not SIP securities; grouped daily also leaves them out by default). Volumes are
written as integers when whole. gzip uses mtime=0, so the same seed gives byte-identical objects.

Modules: `objects` (keys and the bytes of each object), `publisher` (keeps the bucket equal to
what is due), `server` (the parent's handle on the child: start, counters, stop), `child` (the
child process; it runs as a script and imports nothing of the package). This package imports
none of them, so `faults` can read `objects`.
"""
