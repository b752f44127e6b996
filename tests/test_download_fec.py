"""The FEC downloader against a local HTTP server on 127.0.0.1 (no other network access)."""

from __future__ import annotations

import csv
import http.server
import json
import threading
import time
import warnings
from collections import Counter

import pytest
from corpus_layouts import fec_row, image_bytes

from hf_deepfever.data import fec_image_filename, load_fec
from hf_deepfever.data.fec_download import DEAD_URLS_FILE, DownloadArguments, download_fec, main
from hf_deepfever.synthetic import layouts

_JPEG = image_bytes(50)
_PNG = image_bytes(60, fmt="PNG")


class _Handler(http.server.BaseHTTPRequestHandler):
    hits: Counter = Counter()

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.hits[self.path] += 1
        if self.path.startswith("/ok/"):
            self._answer(200, _JPEG)
        elif self.path == "/flaky.jpg":  # fails once, then works: a retry must fetch it
            self._answer(500 if self.hits[self.path] == 1 else 200, _JPEG)
        elif self.path == "/busy.jpg":
            self._answer(503, b"busy")
        elif self.path == "/slow.jpg":
            time.sleep(0.8)
            self._answer(200, _JPEG)
        elif self.path == "/gone.jpg":  # Flickr's way of saying the photo was removed
            self.send_response(302)
            self.send_header("Location", "/images/photo_unavailable.png")
            self.end_headers()
        elif self.path == "/images/photo_unavailable.png":
            self._answer(200, _PNG)
        elif self.path == "/page.jpg":
            self._answer(200, b"<html>not an image</html>")
        else:
            self._answer(404, b"not found")

    def _answer(self, status: int, body: bytes) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client timed out first

    def log_message(self, *args) -> None:
        pass


@pytest.fixture()
def server():
    _Handler.hits = Counter()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    watchdog = threading.Timer(60, httpd.shutdown)  # stops by itself even if a test hangs
    watchdog.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    watchdog.cancel()
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def _write_lists(root, base):
    ok = [f"{base}/ok/{index}.jpg" for index in range(5)]
    train = [
        fec_row((ok[0], ok[1], ok[2]), [1, 1, 1, 1, 1, 1]),
        fec_row((ok[3], f"{base}/flaky.jpg", ok[4]), [2, 2, 2, 2, 2, 2]),
        fec_row((ok[0], f"{base}/missing.jpg", f"{base}/gone.jpg"), [3, 3, 3, 3, 3, 3]),
        fec_row((f"{base}/page.jpg", f"{base}/busy.jpg", f"{base}/slow.jpg"), [1, 1, 1, 1, 1, 1]),
        "a line that does not parse",
    ]
    test = [fec_row((ok[4], ok[3], "ftp://127.0.0.1/x.jpg"), [1, 1, 1, 1, 1, 1])]
    layouts.write_fec_list(layouts.fec_list_path(root, "train"), train)
    layouts.write_fec_list(layouts.fec_list_path(root, "test"), test)
    return ok


def _arguments(root, **overrides):
    values = dict(fec_dir=str(root), num_workers=4, timeout=0.3, retries=1, backoff=0.0)
    values.update(overrides)
    return DownloadArguments(**values)


def test_download_retries_counts_dead_and_resumes(tmp_path, server):
    root = tmp_path / "fec"
    ok = _write_lists(root, server)
    summary = download_fec(_arguments(root))
    assert summary.urls == 12
    assert summary.downloaded == 6  # five ok + flaky after one retry
    assert summary.dead == 4  # missing (404), gone (unavailable), page (not an image), ftp
    assert summary.transient_failures == 2  # busy (503) and slow (timeout), after their retries
    assert _Handler.hits["/flaky.jpg"] == 2 and _Handler.hits["/busy.jpg"] == 2
    images = root / "images"
    for url in [*ok, f"{server}/flaky.jpg"]:
        assert (images / fec_image_filename(url)).read_bytes() == _JPEG
    assert not list(images.glob(".*part"))
    with open(images / DEAD_URLS_FILE, encoding="utf-8") as handle:
        dead = dict(csv.reader(handle, delimiter="\t"))
    assert dead == {
        f"{server}/missing.jpg": "HTTP 404",
        f"{server}/gone.jpg": "photo unavailable",
        f"{server}/page.jpg": "not an image",
        "ftp://127.0.0.1/x.jpg": "not an http(s) URL",
    }

    # A second run fetches nothing it has, skips the dead, and retries only the transient failures.
    ok_hits = _Handler.hits["/ok/0.jpg"]
    again = download_fec(_arguments(root))
    assert (again.already_present, again.skipped_known_dead, again.downloaded) == (6, 4, 0)
    assert again.transient_failures == 2 and again.dead == 4
    assert _Handler.hits["/ok/0.jpg"] == ok_hits and _Handler.hits["/busy.jpg"] == 4
    assert _Handler.hits["/missing.jpg"] == 1

    # load_fec keeps exactly the triplets whose three images arrived.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = load_fec(root, cache_dir=tmp_path / "cache")
    assert (dataset["train"].num_rows, dataset["test"].num_rows) == (2, 0)


def test_retry_dead_and_limit(tmp_path, server):
    root = tmp_path / "fec"
    _write_lists(root, server)
    download_fec(_arguments(root, splits=["test"]))
    assert _Handler.hits["/ok/4.jpg"] == 1
    retried = download_fec(_arguments(root, splits=["test"], retry_dead=True))
    assert retried.skipped_known_dead == 0 and retried.dead == 1
    limited = download_fec(_arguments(root, limit=2, output_dir=str(tmp_path / "other")))
    assert limited.urls == 2 and limited.downloaded == 2


def test_main_prints_summary_and_help(tmp_path, server, capsys):
    root = tmp_path / "fec"
    _write_lists(root, server)
    summary = main(["--fec_dir", str(root), "--splits", "test", "--timeout", "0.3", "--backoff", "0", "--retries", "0"])
    printed = capsys.readouterr().out
    assert json.loads(printed[: printed.rindex("}") + 1])["downloaded"] == summary.downloaded == 2
    assert "1 dead URLs" in printed
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    assert "--num_workers" in capsys.readouterr().out


def test_unknown_split_and_missing_lists(tmp_path):
    with pytest.raises(FileNotFoundError, match="FEC: list files not found"):
        download_fec(_arguments(tmp_path))
    _write_lists(tmp_path, "http://127.0.0.1:9")
    with pytest.raises(ValueError, match="unknown split"):
        download_fec(_arguments(tmp_path, splits=["validation"]))
