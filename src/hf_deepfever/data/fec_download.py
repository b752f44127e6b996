"""Parallel, resumable download of the FEC images named in the FEC list files.

Each image is saved as ``<output_dir>/<fec_image_filename(url)>``, the name :func:`~hf_deepfever.data.load_fec`
looks for. A run can be stopped and restarted at any time:

* files already present are not fetched again (files are written to a temporary name and renamed
  into place, so a present file is always complete);
* URLs that failed for good (HTTP 4xx, a non-image answer, Flickr's "photo unavailable" redirect) are
  listed in ``<output_dir>/fec_dead_urls.tsv`` and skipped by later runs unless ``retry_dead`` is set;
* transient failures (timeouts, connection errors, HTTP 5xx and 429) are retried with exponential
  back-off, and tried again by the next run.

Many FEC URLs are dead today: the summary counts them, and ``load_fec`` skips (and counts) the
triplets whose images are missing.
"""

from __future__ import annotations

import csv
import http.client
import json
import logging
import os
import random
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from ..core.corpus_layouts import FEC_IMAGES_FOLDER, FEC_LISTS_FOLDER
from ..core.files import atomic_output, atomic_write_bytes, atomic_write_json, read_regular_text
from ._fields import split_fields
from ._lines import iter_line_batches
from .fec import LIST_FILES, fec_image_filename

logger = logging.getLogger(__name__)

DEAD_URLS_FILE = "fec_dead_urls.tsv"
SUMMARY_FILE = "fec_download_summary.json"
_URL_COLUMNS = (0, 5, 10)
_IMAGE_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM")
_RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_USER_AGENT = "hf-deepfever-fec-downloader/0.1"


@dataclass
class DownloadArguments:
    """Command-line arguments of ``training_scripts/download_fec.py``."""

    fec_dir: str = field(metadata={"help": "Folder holding FEC_dataset/ (or the FEC_dataset folder itself)."})
    output_dir: str | None = field(
        default=None, metadata={"help": "Where images are saved. Default: <fec_dir>/images, where load_fec looks."}
    )
    splits: list[str] = field(default_factory=lambda: ["train", "test"], metadata={"help": "Lists to read."})
    num_workers: int = field(default=32, metadata={"help": "Parallel downloads (threads)."})
    timeout: float = field(default=10.0, metadata={"help": "Seconds before a connection or read gives up."})
    retries: int = field(default=3, metadata={"help": "Extra attempts after a transient failure."})
    backoff: float = field(default=1.0, metadata={"help": "First retry delay in seconds; doubles each time."})
    max_bytes: int = field(default=20_000_000, metadata={"help": "Larger answers are refused."})
    retry_dead: bool = field(default=False, metadata={"help": "Try again URLs an earlier run found dead."})
    limit: int | None = field(default=None, metadata={"help": "Download at most this many URLs (for a trial)."})


@dataclass
class DownloadSummary:
    """What a run did; ``dead`` counts every URL known dead after the run, earlier runs included."""

    urls: int = 0
    downloaded: int = 0
    already_present: int = 0
    dead: int = 0
    skipped_known_dead: int = 0
    transient_failures: int = 0


class _PermanentFailure(Exception):
    """The URL will not work by trying again."""


class _TransientFailure(Exception):
    """The URL may work later."""


def _lists_dir(fec_dir: Path) -> Path:
    for candidate in (fec_dir / FEC_LISTS_FOLDER, fec_dir):
        if any((candidate / name).is_file() for name in LIST_FILES.values()):
            return candidate
    raise FileNotFoundError(f"FEC: list files not found: expected {fec_dir / FEC_LISTS_FOLDER / LIST_FILES['train']}")


def read_fec_urls(fec_dir: str | os.PathLike, splits: list[str]) -> list[str]:
    """The distinct image URLs of the given FEC lists, in first-seen order (quotes stripped)."""
    lists_dir = _lists_dir(Path(fec_dir))
    seen: dict[str, None] = {}
    for split in splits:
        if split not in LIST_FILES:
            raise ValueError(f"FEC: unknown split {split!r}; expected one of {sorted(LIST_FILES)}")
        path = lists_dir / LIST_FILES[split]
        if not path.is_file():
            raise FileNotFoundError(f"FEC: {split} list not found: expected a file at {path}")
        for lines, _ in iter_line_batches(path):
            fields, counts = split_fields(lines, ",")
            fields = fields.filter(pa.array(counts > max(_URL_COLUMNS)))
            for column in _URL_COLUMNS:
                urls = pc.utf8_trim(pc.utf8_trim_whitespace(pc.list_element(fields, column)), characters='"')
                for url in urls.to_pylist():
                    if url:
                        seen.setdefault(url, None)
    return list(seen)


def _fetch(url: str, timeout: float, max_bytes: int) -> bytes:
    """The image bytes at ``url``, or a permanent/transient failure."""
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise _PermanentFailure("not an http(s) URL")
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (scheme checked above)
            if "photo_unavailable" in response.geturl():
                raise _PermanentFailure("photo unavailable")
            body = response.read(max_bytes + 1)
    except urllib.error.HTTPError as error:
        failure = _TransientFailure if error.code in _RETRYABLE_STATUS else _PermanentFailure
        raise failure(f"HTTP {error.code}") from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
        raise _TransientFailure(type(error).__name__) from None
    if len(body) > max_bytes:
        raise _PermanentFailure(f"larger than {max_bytes} bytes")
    is_webp = body[:4] == b"RIFF" and body[8:12] == b"WEBP"
    if not (is_webp or body.startswith(_IMAGE_SIGNATURES)):
        raise _PermanentFailure("not an image")
    return body


def _download_one(url: str, target: Path, arguments: DownloadArguments) -> str | None:
    """None when saved; the reason when the URL is dead. Raises ``_TransientFailure`` after the retries."""
    delay = arguments.backoff
    for attempt in range(arguments.retries + 1):
        try:
            atomic_write_bytes(target, _fetch(url, arguments.timeout, arguments.max_bytes))
            return None
        except _PermanentFailure as failure:
            return str(failure)
        except _TransientFailure:
            if attempt == arguments.retries:
                raise
            time.sleep(delay * (1 + random.random() / 2))  # jitter spreads retries to one host
            delay *= 2
    return None


def _read_dead(path: Path) -> dict[str, str]:
    """The dead URLs an earlier run listed (a regular file only: a FIFO there would block the run)."""
    if not path.is_file():
        return {}
    text = read_regular_text(path, errors="replace")
    return {row[0]: row[1] for row in csv.reader(text.splitlines(), delimiter="\t") if len(row) == 2}


def download_fec(arguments: DownloadArguments) -> DownloadSummary:
    """Download the images of ``arguments.splits``; return (and save as JSON) a summary."""
    fec_dir = Path(arguments.fec_dir)
    output_dir = Path(arguments.output_dir) if arguments.output_dir else fec_dir / FEC_IMAGES_FOLDER
    output_dir.mkdir(parents=True, exist_ok=True)
    urls = read_fec_urls(fec_dir, arguments.splits)
    if arguments.limit is not None:
        urls = urls[: arguments.limit]
    dead_path = output_dir / DEAD_URLS_FILE
    dead = _read_dead(dead_path)
    present = set(os.listdir(output_dir))  # one listing instead of a stat per URL
    summary = DownloadSummary(urls=len(urls))
    pending = []
    for url in urls:
        name = fec_image_filename(url)
        if name in present:
            summary.already_present += 1
        elif url in dead and not arguments.retry_dead:
            summary.skipped_known_dead += 1
        else:
            dead.pop(url, None)
            pending.append((url, output_dir / name))
    logger.info("FEC: %d URLs, %d present, %d to download", len(urls), summary.already_present, len(pending))

    with ThreadPoolExecutor(max_workers=max(1, arguments.num_workers)) as pool:
        futures = {pool.submit(_download_one, url, target, arguments): url for url, target in pending}
        for done, future in enumerate(as_completed(futures), start=1):
            url = futures[future]
            try:
                reason = future.result()
            except _TransientFailure as failure:
                summary.transient_failures += 1
                logger.debug("FEC: %s failed for now (%s)", url, failure)
            else:
                if reason is None:
                    summary.downloaded += 1
                else:
                    dead[url] = reason
            if done % 1000 == 0:
                logger.info("FEC: %d/%d done", done, len(pending))

    with atomic_output(dead_path) as temporary, open(temporary, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, delimiter="\t").writerows(sorted(dead.items()))
    summary.dead = len(dead)
    atomic_write_json(output_dir / SUMMARY_FILE, vars(summary), sort_keys=False)
    return summary


def main(argv: list[str] | None = None) -> DownloadSummary:
    """Parse arguments (``--help`` lists them), download, print the summary as JSON."""
    from transformers import HfArgumentParser

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    (arguments,) = HfArgumentParser(DownloadArguments).parse_args_into_dataclasses(args=argv)
    summary = download_fec(arguments)
    print(json.dumps(vars(summary), indent=2))
    print(
        f"FEC: {summary.downloaded} downloaded, {summary.already_present} already present, "
        f"{summary.dead} dead URLs, {summary.transient_failures} failed for now (run again to retry them)"
    )
    return summary
