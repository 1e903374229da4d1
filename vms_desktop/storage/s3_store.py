"""Clips in an S3 or S3-compatible bucket: object metadata, conditional writes, presigned URLs."""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO, NoReturn, TypeVar, cast

import boto3  # type: ignore[import-untyped, unused-ignore]
from botocore import exceptions as boto_errors  # type: ignore[import-untyped, unused-ignore]
from botocore.config import Config  # type: ignore[import-untyped, unused-ignore]

from vms_desktop.domain.clip import ClipMeta
from vms_desktop.domain.errors import ClipExistsError, StoreError, StoreUnavailableError
from vms_desktop.domain.ids import is_valid_event_id, validate_event_id
from vms_desktop.domain.store_state import MAX_URL_EXPIRY, ClipUrl, StoreHealth
from vms_desktop.storage.atomic import reason
from vms_desktop.storage.base import BucketLifecycle, LinkedFiles
from vms_desktop.storage.s3_metadata import (
    METADATA_LIMIT,
    decode_metadata,
    encode_metadata,
    metadata_size,
)

__all__ = [
    "BACKEND",
    "DEFAULT_MULTIPART_THRESHOLD",
    "DEFAULT_PREFIX",
    "METADATA_LIMIT",
    "MIN_PART_SIZE",
    "RETENTION_RULE_ID",
    "S3ClipStore",
    "decode_metadata",
    "encode_metadata",
    "metadata_size",
]

log = logging.getLogger(__name__)

BACKEND = "s3"
DEFAULT_PREFIX = "clips/"
MIB = 1024 * 1024
DEFAULT_MULTIPART_THRESHOLD = 8 * MIB
# S3 refuses parts below 5 MiB (except the last one).
MIN_PART_SIZE = 5 * MIB
RETENTION_RULE_ID = "vms-desktop-retention"
# Multipart uploads that a crash or an outage left unfinished are billed until aborted.
_ABORT_INCOMPLETE_DAYS = 1
_CONTENT_TYPE = "video/mp4"
_SUFFIX = ".mp4"
_PREFIX_PATTERN = re.compile(r"(?:[A-Za-z0-9._-]+/)*")

# Error codes that say "not now" rather than "no".
_TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestThrottled",
        "RequestTimeout",
        "RequestTimeoutException",
        "ServiceUnavailable",
        "InternalError",
        # A concurrent conditional write to the same key is still in progress.
        "ConditionalRequestConflict",
        "OperationAborted",
    }
)
_CREDENTIAL_CODES = frozenset(
    {
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "AccessDenied",
        "ExpiredToken",
        "InvalidToken",
        "TokenRefreshRequired",
        "InvalidClientTokenId",
    }
)
# The bucket lives in another region than AWS_REGION says.
_REGION_CODES = frozenset(
    {"AuthorizationHeaderMalformed", "PermanentRedirect", "IllegalLocationConstraintException"}
)
_NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound"})
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9.]{0,63}")

_T = TypeVar("_T")

# --- Streaming reads -------------------------------------------------------------------------


class _BodyReader(io.RawIOBase):
    """An S3 response body as a raw stream whose read errors are :class:`StoreError`\\ s."""

    def __init__(self, body: Any) -> None:
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        try:
            chunk = self._body.read(len(view))
        except (boto_errors.BotoCoreError, OSError) as exc:
            raise StoreUnavailableError("S3 is unreachable: the clip download broke off") from exc
        view[: len(chunk)] = chunk
        return len(chunk)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


# --- The store -------------------------------------------------------------------------------


class S3ClipStore:
    """Clips as ``{prefix}{event_id}.mp4`` objects, their metadata as S3 object metadata.

    Writes are conditional (``If-None-Match: *``), so a retried upload can never overwrite or
    duplicate a clip: a retry that finds its own bytes already stored succeeds, one that finds
    other bytes raises :class:`ClipExistsError`. Every request is bounded by the connect and
    read timeouts and by ``max_attempts`` (botocore's "standard" retries, which back off on
    throttling and 5xx answers). Error messages never carry keys, URLs or botocore's own text.
    """

    backend = BACKEND

    def __init__(
        self,
        bucket: str,
        *,
        region: str,
        endpoint_url: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        prefix: str = DEFAULT_PREFIX,
        multipart_threshold: int = DEFAULT_MULTIPART_THRESHOLD,
        connect_timeout: float = 5,
        read_timeout: float = 30,
        max_attempts: int = 3,
    ) -> None:
        if not bucket:
            raise ValueError("bucket must not be empty")
        if _PREFIX_PATTERN.fullmatch(prefix) is None or {".", ".."} & set(prefix.split("/")):
            raise ValueError("prefix must be '' or path segments ending in '/' (A-Z a-z 0-9 . _ -)")
        if (access_key is None) != (secret_key is None):
            raise ValueError("access_key and secret_key must be given together")
        if multipart_threshold < MIN_PART_SIZE:
            raise ValueError(f"multipart_threshold must be at least {MIN_PART_SIZE} bytes")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.bucket = bucket
        self.prefix = prefix
        self.multipart_threshold = multipart_threshold
        self.part_size = multipart_threshold
        self._page_size = 1000  # S3's maximum; tests lower it to exercise paging

        def make_client(attempts: int) -> Any:
            config = Config(
                region_name=region,
                signature_version="s3v4",
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                retries={"mode": "standard", "total_max_attempts": attempts},
                # S3-compatible servers rarely resolve virtual-host names like bucket.127.0.0.1.
                s3={"addressing_style": "path" if endpoint_url else "auto"},
                # Our own SHA-256 goes with each request: botocore's extra CRC32 trailers (its
                # default since 1.36) need aws-chunked uploads, which some S3-compatible servers
                # refuse.
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            )
            # An explicit None key would disable boto3's credential chain, so only pass them
            # when they were given.
            keys = (
                {"aws_access_key_id": access_key, "aws_secret_access_key": secret_key}
                if access_key is not None
                else {}
            )
            return boto3.session.Session().client(
                "s3", endpoint_url=endpoint_url, config=config, **keys
            )

        self._client = make_client(max_attempts)
        # Health checks must answer fast: one attempt, no retry back-off.
        self._probe_client = make_client(1)

    def __repr__(self) -> str:
        return f"S3ClipStore(bucket={self.bucket!r}, prefix={self.prefix!r})"

    # --- ClipStore ---

    def put(self, meta: ClipMeta, clip_file: Path) -> None:
        """Upload the clip with its metadata; see the class docstring for retries and conflicts."""
        key = self._key(meta.event_id)
        metadata = encode_metadata(meta)
        try:
            size = clip_file.stat().st_size
            if size != meta.size:
                raise StoreError(
                    f"clip {meta.event_id}: the file's size does not match its metadata"
                )
            if size > self.multipart_threshold:
                uploaded = self._put_multipart(meta, key, metadata, clip_file)
            else:
                uploaded = self._put_single(meta, key, metadata, clip_file)
        except OSError as exc:
            # Only reading the local file raises OSError here: S3 failures are StoreErrors.
            raise StoreError(f"reading the clip to store failed: {reason(exc)}") from None
        if uploaded:
            # Catches a server that ignores checksums and stores something else.
            self._verify_stored(meta, key)

    def get(self, event_id: str) -> ClipMeta | None:
        """The clip's metadata from its object's headers, or None if there is no such clip."""
        head = self._head(self._key(event_id), "read a clip's metadata")
        if head is None:
            return None
        try:
            meta = decode_metadata(head.get("Metadata", {}))
        except (KeyError, ValueError) as exc:
            raise StoreError(f"clip {event_id}: the stored metadata is unreadable") from exc
        if meta.event_id != event_id:
            raise StoreError(f"clip {event_id}: the stored metadata names another event")
        return meta

    def delete(self, event_id: str) -> bool:
        """Delete the clip's object; False if there was none."""
        key = self._key(event_id)
        if self._head(key, "delete a clip") is None:
            return False
        self._call("delete a clip", lambda: self._client.delete_object(Bucket=self.bucket, Key=key))
        return True

    def iter_all(self) -> Iterator[ClipMeta]:
        """Every clip under the prefix (listed page by page); malformed objects are skipped."""
        paginator = self._client.get_paginator("list_objects_v2")
        pages = iter(
            paginator.paginate(
                Bucket=self.bucket,
                Prefix=self.prefix,
                PaginationConfig={"PageSize": self._page_size},
            )
        )
        while True:
            page = self._call("list clips", lambda: next(pages, None))
            if page is None:
                return
            for item in page.get("Contents", []):
                meta = self._read_listed(str(item["Key"]))
                if meta is not None:
                    yield meta

    def url(self, event_id: str, expires_in: timedelta) -> ClipUrl:
        """A SigV4 presigned GET URL valid for ``expires_in`` (at most 7 days).

        Presigning is local: no request is made, so the clip's existence is not checked.
        """
        if expires_in <= timedelta(0) or expires_in > MAX_URL_EXPIRY:
            raise ValueError(f"expires_in must be above 0 and at most {MAX_URL_EXPIRY}")
        seconds = max(1, int(expires_in.total_seconds()))
        key = self._key(event_id)
        # Whole seconds, as in the signature's X-Amz-Date, so the reported expiry is never
        # later than the real one.
        now = datetime.now(UTC).replace(microsecond=0)
        url = self._call(
            "sign a clip URL",
            lambda: self._client.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=seconds
            ),
        )
        return ClipUrl(url=str(url), expires_at=now + timedelta(seconds=seconds))

    def open(self, event_id: str) -> BinaryIO:
        """The clip's bytes as a stream (close it); FileNotFoundError if there is no such clip."""
        key = self._key(event_id)
        try:
            response = self._call(
                "download a clip", lambda: self._client.get_object(Bucket=self.bucket, Key=key)
            )
        except _NotFound:
            raise FileNotFoundError(f"no clip is stored for event {event_id}") from None
        return cast(BinaryIO, io.BufferedReader(_BodyReader(response["Body"]), 256 * 1024))

    def health(self) -> StoreHealth:
        """One HEAD request on the bucket, without retries; never raises."""
        try:
            self._call(
                "check the bucket",
                lambda: self._probe_client.head_bucket(Bucket=self.bucket),
                missing_is_bucket=True,
            )
        except StoreError as exc:
            return StoreHealth(BACKEND, reachable=False, detail=str(exc))
        except Exception:  # /health must answer whatever botocore does
            log.exception("S3 health check failed")
            return StoreHealth(BACKEND, reachable=False, detail="S3 check failed")
        return StoreHealth(BACKEND, reachable=True, detail=f"bucket {self.bucket} is reachable")

    # --- Lifecycle ---

    def local_path(self, event_id: str) -> Path | None:
        """None: the bucket keeps no files on this computer."""
        return None

    def local_root(self) -> Path | None:
        """None: the bucket keeps no files on this computer."""
        return None

    def linked_files(self) -> LinkedFiles | None:
        """None: clips are served by the bucket through presigned URLs."""
        return None

    def lifecycle(self) -> BucketLifecycle | None:
        """This store: the bucket expires clips by a lifecycle rule."""
        return self

    def close(self) -> None:
        """Nothing to release: the client's connections close with it."""

    def apply_lifecycle(self, days: int) -> None:
        """Have S3 expire clips under the prefix ``days`` days after upload.

        The bucket's other lifecycle rules are kept; ours (ID ``vms-desktop-retention``) is
        replaced. It also aborts multipart uploads left unfinished for a day.
        """
        if isinstance(days, bool) or not isinstance(days, int) or days < 1:
            raise ValueError("days must be a whole number of at least 1")
        rules = [rule for rule in self._lifecycle_rules() if rule.get("ID") != RETENTION_RULE_ID]
        rules.append(
            {
                "ID": RETENTION_RULE_ID,
                "Status": "Enabled",
                "Filter": {"Prefix": self.prefix},
                "Expiration": {"Days": days},
                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": _ABORT_INCOMPLETE_DAYS},
            }
        )
        self._call(
            "set the bucket's lifecycle",
            lambda: self._client.put_bucket_lifecycle_configuration(
                Bucket=self.bucket, LifecycleConfiguration={"Rules": rules}
            ),
            missing_is_bucket=True,
        )

    def lifecycle_days(self) -> int | None:
        """The expiry of our lifecycle rule in days, or None if the bucket has none."""
        for rule in self._lifecycle_rules():
            if rule.get("ID") == RETENTION_RULE_ID and rule.get("Status") == "Enabled":
                days = rule.get("Expiration", {}).get("Days")
                return int(days) if days is not None else None
        return None

    # --- Internals ---

    def _key(self, event_id: str) -> str:
        return f"{self.prefix}{validate_event_id(event_id)}{_SUFFIX}"

    def _lifecycle_rules(self) -> list[dict[str, Any]]:
        try:
            response = self._call(
                "read the bucket's lifecycle",
                lambda: self._client.get_bucket_lifecycle_configuration(Bucket=self.bucket),
                missing_is_bucket=True,
                absent_codes=frozenset({"NoSuchLifecycleConfiguration"}),
            )
        except _NotFound:
            return []
        return list(response.get("Rules", []))

    def _put_single(
        self, meta: ClipMeta, key: str, metadata: dict[str, str], clip_file: Path
    ) -> bool:
        """Upload in one request; False if the same clip was already stored."""
        data = clip_file.read_bytes()
        digest = hashlib.sha256(data).digest()
        self._check_digest(meta, digest, len(data))
        try:
            self._call(
                "upload a clip",
                lambda: self._client.put_object(
                    Bucket=self.bucket,
                    Key=key,
                    Body=data,
                    ContentType=_CONTENT_TYPE,
                    Metadata=metadata,
                    ChecksumSHA256=base64.b64encode(digest).decode(),
                    IfNoneMatch="*",
                ),
                missing_is_bucket=True,
            )
        except _PreconditionFailed:
            self._check_existing(meta, key)
            return False
        return True

    def _put_multipart(
        self, meta: ClipMeta, key: str, metadata: dict[str, str], clip_file: Path
    ) -> bool:
        """Upload in parts; False if the same clip was already stored."""
        # A retry after an outage usually finds its clip already there: one HEAD saves
        # uploading it all again. The conditional complete below still guards the race.
        if self._head(key, "check for an existing clip") is not None:
            self._check_existing(meta, key)
            return False
        created = self._call(
            "start a multipart upload",
            lambda: self._client.create_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                ContentType=_CONTENT_TYPE,
                Metadata=metadata,
                ChecksumAlgorithm="SHA256",
            ),
            missing_is_bucket=True,
        )
        upload_id = str(created["UploadId"])
        try:
            parts: list[dict[str, Any]] = []
            whole = hashlib.sha256()
            total = 0
            with clip_file.open("rb") as source:
                while chunk := source.read(self.part_size):
                    whole.update(chunk)
                    total += len(chunk)
                    number = len(parts) + 1
                    checksum = base64.b64encode(hashlib.sha256(chunk).digest()).decode()
                    answer = self._call(
                        "upload a clip part",
                        partial(
                            self._client.upload_part,
                            Bucket=self.bucket,
                            Key=key,
                            UploadId=upload_id,
                            PartNumber=number,
                            Body=chunk,
                            ChecksumSHA256=checksum,
                        ),
                    )
                    parts.append(
                        {"PartNumber": number, "ETag": answer["ETag"], "ChecksumSHA256": checksum}
                    )
            self._check_digest(meta, whole.digest(), total)
            self._call(
                "finish a multipart upload",
                lambda: self._client.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=key,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},
                    IfNoneMatch="*",
                ),
            )
        except _PreconditionFailed:
            self._abort(key, upload_id)
            self._check_existing(meta, key)
            return False
        except BaseException:
            self._abort(key, upload_id)
            raise
        return True

    def _abort(self, key: str, upload_id: str) -> None:
        try:
            self._call(
                "abort a multipart upload",
                lambda: self._client.abort_multipart_upload(
                    Bucket=self.bucket, Key=key, UploadId=upload_id
                ),
            )
        except StoreError as exc:
            # The lifecycle rule's AbortIncompleteMultipartUpload cleans up after a day.
            log.warning("could not abort an unfinished clip upload: %s", exc)

    @staticmethod
    def _check_digest(meta: ClipMeta, digest: bytes, size: int) -> None:
        if digest.hex() != meta.sha256 or size != meta.size:
            raise StoreError(f"clip {meta.event_id}: the file does not match its SHA-256 / size")

    def _check_existing(self, meta: ClipMeta, key: str) -> None:
        """After a refused conditional write: succeed if the stored object is this very clip."""
        head = self._head(key, "check an existing clip")
        if head is None:
            # Deleted between the refusal and this look: the caller may simply retry.
            raise StoreUnavailableError("S3 changed the clip during the upload; try again")
        stored = {k.lower(): v for k, v in head.get("Metadata", {}).items()}
        if stored.get("sha256") == meta.sha256 and int(head.get("ContentLength", -1)) == meta.size:
            log.info("clip %s was already stored with the same bytes", meta.event_id)
            return
        raise ClipExistsError(f"a different clip is already stored for event {meta.event_id}")

    def _verify_stored(self, meta: ClipMeta, key: str) -> None:
        head = self._head(key, "verify an uploaded clip")
        stored = {} if head is None else {k.lower(): v for k, v in head["Metadata"].items()}
        if (
            head is None
            or stored.get("sha256") != meta.sha256
            or int(head.get("ContentLength", -1)) != meta.size
        ):
            raise StoreError(f"clip {meta.event_id}: S3 does not hold the uploaded bytes")

    def _head(self, key: str, action: str) -> dict[str, Any] | None:
        try:
            head = self._call(
                action,
                lambda: self._client.head_object(Bucket=self.bucket, Key=key),
                missing_is_bucket=False,
            )
        except _NotFound:
            return None
        return cast(dict[str, Any], head)

    def _read_listed(self, key: str) -> ClipMeta | None:
        name = key[len(self.prefix) :]
        event_id = name[: -len(_SUFFIX)] if name.endswith(_SUFFIX) else ""
        if "/" in name or not is_valid_event_id(event_id):
            log.warning("skipping an object that is not a clip: %s", ascii(name[:80]))
            return None
        try:
            return self.get(event_id)
        except StoreUnavailableError:
            raise
        except StoreError as exc:
            log.warning("skipping clip %s: %s", event_id, exc)
            return None

    def _call(
        self,
        action: str,
        request: Callable[[], _T],
        *,
        missing_is_bucket: bool = True,
        absent_codes: frozenset[str] = frozenset(),
    ) -> _T:
        """Run one boto3 request, turning every failure into a safe-to-show store error."""
        try:
            return request()
        except boto_errors.ClientError as exc:
            _raise_client_error(exc, action, self.bucket, missing_is_bucket, absent_codes)
        except (boto_errors.ConnectionError, boto_errors.HTTPClientError) as exc:
            raise StoreUnavailableError(f"S3 is unreachable (could not {action})") from exc
        except (boto_errors.NoCredentialsError, boto_errors.PartialCredentialsError) as exc:
            raise StoreError(
                "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            ) from exc
        except boto_errors.BotoCoreError as exc:
            raise StoreError(f"S3 request failed (could not {action})") from exc


class _NotFound(StoreError):
    """The object (or lifecycle configuration) does not exist: callers turn it into None."""


class _PreconditionFailed(StoreError):
    """A conditional write found the key taken."""


def _raise_client_error(
    exc: Any,
    action: str,
    bucket: str,
    missing_is_bucket: bool,
    absent_codes: frozenset[str],
) -> NoReturn:
    response = exc.response
    code = str(response.get("Error", {}).get("Code", ""))
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    # The error's text and its request details stay out of our messages: they can hold keys,
    # the bucket's layout and presigned parameters.
    if code == "NoSuchBucket" or (missing_is_bucket and status == 404 and code in ("404", "")):
        raise StoreError(f"S3 bucket {bucket!r} does not exist") from exc
    if code in absent_codes or code in _NOT_FOUND_CODES or status == 404:
        raise _NotFound(f"not found (could not {action})") from exc
    if code == "PreconditionFailed" or status == 412:
        raise _PreconditionFailed("the key is taken") from exc
    if code == "RequestTimeTooSkewed":
        raise StoreError("S3 refused the request: this computer's clock is wrong") from exc
    if code in _REGION_CODES or status == 301:
        raise StoreError(f"S3 rejected the request to {action}: check AWS_REGION") from exc
    if code in _CREDENTIAL_CODES or status in (401, 403):
        raise StoreError("S3 refused the credentials (or denied access to the bucket)") from exc
    if code in _TRANSIENT_CODES or status == 429 or status >= 500:
        raise StoreUnavailableError(
            f"S3 is unreachable or overloaded (could not {action})"
        ) from exc
    shown = code if _WORD.fullmatch(code) else f"HTTP {status}"
    raise StoreError(f"S3 rejected the request ({shown}) to {action}") from exc
