"""haproxy.cfg through `haproxy -c`, for each program whose consumer is haproxy."""
from __future__ import annotations

from collections.abc import Iterator

from sitestack.control.checks import FAIL, OK, Finding, run, words
from sitestack.recipes.description import Site


def check_haproxy(site: Site) -> Iterator[Finding]:
    for program in site.consumers("haproxy"):
        assert program.consumer is not None  # consumers() returns only programs with one
        config = program.consumer.config
        code, said = run([words(program.command)[0], "-c", "-f", config])
        what = f"{program.section}: {config}"
        yield Finding(OK, what, "haproxy -c accepts it") if code == 0 else Finding(FAIL, what, f"haproxy -c: {said}")
