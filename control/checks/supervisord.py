"""supervisord.conf through supervisor's own parser, and the supervisor release."""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from sitestack.control.checks import FAIL, OK, Finding

# CVE-2017-11610 (XML-RPC dotted names reaching os.system) is fixed from supervisor 3.3.3 on
SAFE_SUPERVISOR = (3, 3, 3)


def check_supervisord_conf(path: Path) -> Finding:
    try:
        _options().ServerOptions().read_config(str(path))
    except (ValueError, OSError) as error:
        return Finding(FAIL, f"supervisord.conf {path}", f"supervisor's parser refuses it: {error}")
    return Finding(OK, f"supervisord.conf {path}", "loads in supervisor's own parser")


def supervisor_version() -> Finding:
    VERSION: str = _options().VERSION
    version = tuple(int(p) for p in VERSION.split(".")[:3] if p.isdigit())
    if version < SAFE_SUPERVISOR:
        return Finding(FAIL, f"supervisor {VERSION}", "has CVE-2017-11610 (XML-RPC to os.system); pin 3.3.3 or later")
    return Finding(OK, f"supervisor {VERSION}", "has the CVE-2017-11610 fix")


def _options() -> Any:
    """supervisor.options (supervisor ships no type hints: Any here)."""
    return importlib.import_module("supervisor.options")
