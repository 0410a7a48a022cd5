"""Ways into a running site from outside it: another user, another address, the admin ports without
their secret. Helpers for tests/e2e/test_security.py."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import pwd
import socket
import subprocess
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

OTHER_USER = "nobody"
TRY_OPEN = """
import json, sys
opened = []
for path in sys.argv[1:]:
    try:
        open(path, "rb").close()
        opened.append(path)
    except OSError:
        pass
print(json.dumps(opened))
"""


def openable(paths: list[Path], user: str | None) -> list[str]:
    """The paths a user (None: this process's) can open for reading."""
    ids = {} if user is None else {"user": user, "group": pwd.getpwnam(user).pw_gid, "extra_groups": []}
    result = subprocess.run(["/usr/bin/python3", "-c", TRY_OPEN, *map(str, paths)], capture_output=True, text=True,
                            timeout=30, cwd="/", stdin=subprocess.DEVNULL, **ids)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def basic(username: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}


def http_status(url: str, headers: dict[str, str], data: bytes | None = None) -> int:
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "text/xml", **headers})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def varnish_cli(port: int, lines: list[str], secret: bytes | None = None) -> list[tuple[int, str]]:
    """(status, body) of varnish's banner and of each line sent to its admin port; `secret` answers the
    challenge first (sha256 of challenge, newline, the secret file's bytes, challenge, newline)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        reader = sock.makefile("rb")

        def answer() -> tuple[int, str]:
            try:
                head = reader.readline().split()
            except ConnectionResetError:
                head = []
            if not head:
                return 0, "connection closed"
            status, length = head
            body = reader.read(int(length) + 1)  # the body and its trailing newline
            return int(status), body.decode("utf-8", "replace")

        answers = [answer()]
        if secret is not None:
            challenge = answers[0][1][:32].encode()
            digest = hashlib.sha256(challenge + b"\n" + secret + challenge + b"\n").hexdigest()
            sock.sendall(f"auth {digest}\n".encode())
            answers.append(answer())
        for line in lines:
            try:
                sock.sendall(line.encode() + b"\n")
            except (BrokenPipeError, ConnectionResetError):
                answers.append((0, "connection closed"))
                break
            answers.append(answer())
            if answers[-1][0] == 0:
                break
        return answers


@contextmanager
def outside_address() -> Iterator[tuple[str, Callable[[int], str]]]:
    """A network namespace joined to this one by a veth pair: (this side's address, connect(port) from
    the other side, returning 'connected' or the error). Both are removed afterwards."""
    tag = f"{os.getpid() % 10000}{uuid.uuid4().hex[:4]}"
    namespace, here, there = f"sst{tag}", f"sst{tag}a", f"sst{tag}b"
    subnet = 16 + os.getpid() % 200
    mine, theirs = f"10.231.{subnet}.1", f"10.231.{subnet}.2"
    commands = [["ip", "netns", "add", namespace],
                ["ip", "link", "add", here, "type", "veth", "peer", "name", there],
                ["ip", "link", "set", there, "netns", namespace],
                ["ip", "addr", "add", f"{mine}/30", "dev", here], ["ip", "link", "set", here, "up"],
                ["ip", "netns", "exec", namespace, "ip", "addr", "add", f"{theirs}/30", "dev", there],
                ["ip", "netns", "exec", namespace, "ip", "link", "set", there, "up"]]
    connect = ("import socket, sys\ntry:\n    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5).close()\n"
               "    print('connected')\nexcept OSError as error:\n    print(error)\n")

    def attempt(port: int) -> str:
        return subprocess.run(["ip", "netns", "exec", namespace, "/usr/bin/python3", "-c", connect, mine, str(port)],
                              capture_output=True, text=True, timeout=30).stdout.strip()

    try:
        for command in commands:
            subprocess.run(command, check=True, capture_output=True, timeout=30)
        yield mine, attempt
    finally:
        subprocess.run(["ip", "link", "del", here], capture_output=True, timeout=30)
        subprocess.run(["ip", "netns", "del", namespace], capture_output=True, timeout=30)


def accepts(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=2).close()
        return True
    except OSError:
        return False
