"""demoapp's test pages (/_test/grow, /_test/slow) exist only when the test switch is on."""
from __future__ import annotations

import json
import os
import subprocess
import sys

SCRIPT = """
import json, sitestack.demoapp.app as app
environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/_test/slow", "QUERY_STRING": "", "sitestack.client": "c1"}
seen = []
body = b"".join(app.application(environ, lambda status, headers: seen.append((status, dict(headers)))))
print(json.dumps([sorted(p for p in app.ROUTES if p.startswith("/_test/")), seen[0][0],
                  seen[0][1].get("Content-Length"), len(body), body[-11:].decode()]))
"""


def run(switch: str | None) -> list[object]:
    env = {k: v for k, v in os.environ.items() if k != "SITESTACK_TEST_MEMORY_GROWTH"}
    if switch is not None:
        env["SITESTACK_TEST_MEMORY_GROWTH"] = switch
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_the_test_pages_are_off_by_default():
    for switch in (None, "0"):
        pages, status, _, _, _ = run(switch)
        assert (pages, status) == ([], "404 Not Found")


def test_the_slow_page_sends_what_its_content_length_says():
    pages, status, length, size, tail = run("1")
    assert (pages, status) == (["/_test/grow", "/_test/slow"], "200 OK")
    assert int(length) == size == 10 * 32 * 1024 + len("\nserved by c1\n")
    assert tail == "erved by c1\n"[-11:]
