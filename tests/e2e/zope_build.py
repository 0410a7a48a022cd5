"""The Zope site of tests/e2e/test_zope.py, built in a background thread from the start of the session.

Building Zope takes minutes (about 85 eggs from PyPI), so tests/conftest.py starts it as soon as
collection shows test_zope.py is selected, and the test joins it when it needs the site. The
build runs in its own copy of the project, bootstrapped with Debian's Python, with its own eggs
directory (concurrent buildouts must not write one eggs directory at once).
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.site import zope_config
from e2e.site import Ports, copy_project
from support import free_port_range


@dataclass
class ZopeBuild:
    """One background build; `wait()` returns the built site's directory and ports or raises."""

    top: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="sitestack-zope-")))
    ports: Ports = field(default_factory=lambda: Ports(clients=free_port_range(2)))
    seconds: float = 0.0
    error: str = ""
    _process: subprocess.Popen[str] | None = None
    _thread: threading.Thread | None = None

    @property
    def path(self) -> Path:
        return self.top / "site"

    def start(self) -> "ZopeBuild":
        self.top.chmod(0o755)
        self._thread = threading.Thread(target=self._build, name="zope-build", daemon=True)
        self._thread.start()
        return self

    def _build(self) -> None:
        started = time.monotonic()
        try:
            copy_project(self.path)
            eggs = self.top / "eggs"
            eggs.mkdir(mode=0o755)
            crontab = self.top / "crontab.txt"
            crontab.write_text("# a line of the user's own\n")
            python = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else shutil.which("python3") or "python3"
            self._run([python, "bootstrap.py"])
            (self.path / "buildout.cfg").write_text(zope_config(self.ports, crontab, eggs))
            self._run([str(self.path / "bin" / "buildout")])
        except Exception as error:  # noqa: BLE001 - reported by wait(), never lost with the thread
            self.error = self.error or f"{type(error).__name__}: {error}"
        finally:
            self.seconds = time.monotonic() - started

    def _run(self, command: list[str]) -> None:
        log = self.top / "build.log"
        with open(log, "a") as out:
            self._process = subprocess.Popen(command, cwd=self.path, stdout=out, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL, text=True)
            code = self._process.wait(1200)
        if code != 0:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
            raise RuntimeError(f"{' '.join(command)} exited {code}\n{tail}")

    def wait(self, timeout: float = 1200) -> Path:
        assert self._thread is not None, "the Zope build was never started"
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise AssertionError(f"the Zope build did not finish within {timeout:.0f}s")
        if self.error:
            raise AssertionError(f"the Zope build failed after {self.seconds:.0f}s: {self.error}")
        return self.path

    def close(self) -> None:
        """Stop a build still running (by its pid) and remove everything it wrote."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(30)
        if self._thread is not None:
            self._thread.join(60)
        shutil.rmtree(self.top, ignore_errors=True)
