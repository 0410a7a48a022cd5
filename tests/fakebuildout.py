"""A minimal stand-in for zc.buildout's Buildout mapping, to drive recipe adapters in unit tests."""
from __future__ import annotations

from pathlib import Path

from recipes.publish import PublishedProgram, publish


class Options(dict):
    """A part's options, with the one method recipes call besides the mapping ones."""

    def created(self, *paths):
        return list(paths)


def fake_buildout(directory: Path, **sections: dict) -> dict[str, Options]:
    """Sections by name; [buildout] gets the usual directories below `directory`."""
    buildout = {
        "buildout": Options(
            directory=str(directory),
            **{
                "bin-directory": str(directory / "bin"),
                "parts-directory": str(directory / "parts"),
                "eggs-directory": str(directory / "eggs"),
                "develop-eggs-directory": str(directory / "develop-eggs"),
                "offline": "true",
            },
        )
    }
    for name, options in sections.items():
        buildout[name] = Options(options)
    return buildout


def published(name, programs):
    options = Options(recipe=f"sitestack:{name}")
    publish(options, programs)
    return options


def stack_buildout(tmp_path, **supervisor):
    buildout = fake_buildout(tmp_path, supervisor=dict(supervisor))
    buildout["zeoserver"] = published("zeoserver", [
        PublishedProgram("zeoserver", "/srv/bin/zeoserver", "/srv/parts/zeoserver", 10, "zeo-cluster")])
    buildout["clients"] = published("clients", [
        PublishedProgram(f"client{i}", f"/srv/bin/client{i}", f"/srv/parts/clients/client{i}", 20, "zeo-clients",
                         health_url=f"http://127.0.0.1:808{i}/health", memory_quota=800 * 1024**2,
                         address=f"127.0.0.1:808{i}", watchdog=True)
        for i in (1, 2)])
    buildout["front"] = published("front", [
        PublishedProgram("haproxy", "/usr/sbin/haproxy -W -db -f /srv/parts/haproxy/haproxy.cfg", "/srv",
                         30, "front", health_url="http://127.0.0.1:8070/haproxy-health"),
        PublishedProgram("varnish", "/usr/sbin/varnishd -F", "/srv", 40, "front")])
    return buildout
