"""Test support: golden files, open temporary directories, the exporter's samples; and, from
benchmarks/loopback.py (which the benchmarks use too), free loopback ports, polling that explains its
failures, HTTP probes, process cleanup."""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks.loopback import (  # noqa: F401 - the tests import them from here
    free_port,
    free_port_range,
    http_get,
    kill_pids,
    pid_alive,
    poll_for,
    tail,
)

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"


def check_golden(name: str, text: str) -> None:
    """Compare text with tests/golden/<name>. A missing golden file fails; only SITESTACK_UPDATE_GOLDEN=1
    (never in CI) writes one, to be reviewed and committed."""
    path = GOLDEN / name
    if os.environ.get("SITESTACK_UPDATE_GOLDEN") == "1":
        if os.environ.get("CI") == "true":
            raise AssertionError("SITESTACK_UPDATE_GOLDEN=1 in CI: golden files are written by a person, not CI")
        path.write_text(text, encoding="utf-8")
    if not path.exists():
        raise AssertionError(f"golden file {path} is missing; write it with SITESTACK_UPDATE_GOLDEN=1, "
                             "review it and commit it")
    assert text == path.read_text(encoding="utf-8"), f"{name} differs from its golden file"


@contextmanager
def open_directory() -> Iterator[Path]:
    """A temporary directory every user may traverse (pytest's tmp_path sits under a 0700 one).

    varnishd started as root compiles its VCL as user varnish, which must reach the file.
    """
    path = Path(tempfile.mkdtemp(prefix="sitestack-"))
    try:
        path.chmod(0o755)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The exporter's samples on 127.0.0.1:port, by (name, sorted labels)."""
    from prometheus_client.parser import text_string_to_metric_families

    status, body, _ = http_get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    assert status == 200, body[-500:]
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(body) for s in family.samples}
