"""The VCL through `varnishd -C`, for each program whose consumer is varnish."""
from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from sitestack.control.checks import FAIL, OK, Finding, run, words
from sitestack.recipes.description import Site


def check_varnish(site: Site) -> Iterator[Finding]:
    for program in site.consumers("varnish"):
        assert program.consumer is not None  # consumers() returns only programs with one
        vcl = program.consumer.config
        # started as root, varnishd compiles as user varnish: the work directory must be reachable
        work = Path(tempfile.mkdtemp(prefix="sitestack-check-"))
        try:
            work.chmod(0o755)
            code, said = run([words(program.command)[0], "-C", "-f", vcl, "-n", str(work / "n")])
        finally:
            shutil.rmtree(work, ignore_errors=True)
        what = f"{program.section}: {vcl}"
        yield Finding(OK, what, "varnishd -C compiles it") if code == 0 else Finding(FAIL, what, f"varnishd -C: {said}")
