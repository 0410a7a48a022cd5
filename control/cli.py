"""bin/sitestack: operator commands for a built site.

    bin/sitestack COMMAND [options]      (bin/sitestack --help lists the commands)

Each command lives in its own module with `describe` (one line) and `main(site, argv) -> int`.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from sitestack.control.site import load_site

# command name -> module; a module that is not there yet is simply not offered
COMMANDS = {
    "check": "sitestack.control.check",
    "rolling-restart": "sitestack.control.rolling",
    "reload": "sitestack.control.reload",
    "requests": "sitestack.control.requests",
    "restore": "sitestack.control.restore",
    "status": "sitestack.control.status",
}


def available() -> dict[str, object]:
    modules: dict[str, object] = {}
    for name, module in COMMANDS.items():
        try:
            modules[name] = importlib.import_module(module)
        except ModuleNotFoundError as error:
            if error.name != module:
                raise
    return modules


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    modules = available()
    parser = argparse.ArgumentParser(
        prog="sitestack",
        description="Operator commands for this sitestack site.",
        epilog="commands:\n" + "\n".join(f"  {n:<16} {getattr(m, 'describe', '')}" for n, m in modules.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--site", required=True, help="site.json written by the supervisor part")
    parser.add_argument("command", choices=sorted(modules))
    parser.add_argument("args", nargs=argparse.REMAINDER)
    options = parser.parse_args(argv)
    try:
        site = load_site(options.site)
    except (OSError, ValueError, KeyError) as error:
        print(f"sitestack: cannot read {options.site}: {error}; run bin/buildout first", file=sys.stderr)
        return 2
    return int(modules[options.command].main(site, options.args))  # type: ignore[attr-defined]


if __name__ == "__main__":
    sys.exit(main())
