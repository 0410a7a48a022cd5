"""The Zope part: plone.recipe.zope2instance and plone.recipe.zeoserver parts published as sitestack programs."""
import pytest

from buildout_harness import error_of, site_buildout
from sitestack.recipes.address import Address
from sitestack.recipes.publish import collect
from sitestack.recipes.zope import AdminUser, Recipe

INSTANCE = {"recipe": "plone.recipe.zope2instance", "eggs": "Zope", "user": "admin:x"}


def buildout(tmp_path, zope=None, **instances):
    sections = {name: {**INSTANCE, **options} for name, options in instances.items()}
    return site_buildout(tmp_path, zeo={"recipe": "plone.recipe.zeoserver", "zeo-address": "127.0.0.1:8100"},
                         zope={"recipe": "sitestack:zope", **(zope or {})}, **sections)


def test_instances_and_the_zeo_server_are_published_like_our_own_clients(tmp_path):
    b = buildout(tmp_path, {"instances": "instance1 instance2", "zeoserver": "zeo", "health-path": "/ok"},
                 instance1={"http-address": "127.0.0.1:8091"}, instance2={"http-address": "127.0.0.1:8092"})
    options = b["zope"]
    Recipe(b, "zope", options)
    assert options["servers"] == "instance1=127.0.0.1:8091 instance2=127.0.0.1:8092"
    assert options["health-path"] == "/ok"
    programs = {p.name: p for p in collect("zope", options)}
    assert list(programs) == ["zeo", "instance1", "instance2"]
    zeo, one = programs["zeo"], programs["instance1"]
    assert (zeo.command, zeo.address, zeo.priority, zeo.group, zeo.watchdog) == (
        f"{tmp_path}/bin/zeo-server", Address("127.0.0.1", 8100), 10, "zeo-cluster", False)
    assert (one.command, one.address, one.health_url, one.memory_quota, one.priority, one.group, one.watchdog,
            one.start_timeout, dict(one.settings)) == (
        f"{tmp_path}/bin/instance1 console", Address("127.0.0.1", 8091), "http://127.0.0.1:8091/ok", 800 * 1024**2, 20,
        "zeo-clients", True, 300, {"stdout_logfile": f"{tmp_path}/var/log/instance1-console.log"})


def test_the_zeo_server_runs_sitestacks_runner_on_the_parts_zeo_conf(tmp_path):
    b = buildout(tmp_path, {"instances": "instance1", "zeoserver": "zeo", "zeo-transaction-timeout": "10s"},
                 instance1={"http-address": "127.0.0.1:8091"})
    recipe = Recipe(b, "zope", b["zope"])
    assert recipe.zeo is not None
    assert recipe.zeo.arguments() == ["-C", f"{tmp_path}/parts/zeo/etc/zeo.conf", "--timeout", "10",
                                      "--dead-client-timeout", "4"]
    assert recipe.zeo.eggs == ("ZEO", "ZODB")


@pytest.mark.parametrize(("zope", "instances", "message"), [
    ({"instances": "instance1"}, {"instance1": {"http-address": "8080"}},
     "[zope] instances: instance1: its http-address is a bare port, which binds every interface; give a loopback "
     "address such as 127.0.0.1:8080 (got '8080')"),
    ({"instances": "instance9"}, {},
     "[zope] instances: expected names of plone.recipe.zope2instance parts; there is no part 'instance9' "
     "(got 'instance9')"),
    ({"instances": "zeo"}, {},
     "[zope] instances: zeo: part 'zeo' is not a plone.recipe.zope2instance part (recipe 'plone.recipe.zeoserver') "
     "(got 'zeo')"),
    ({"instances": "instance1 instance2"},
     {"instance1": {"http-address": "127.0.0.1:8091", "event-log": "/srv/log/zope.log"},
      "instance2": {"http-address": "127.0.0.1:8092", "event-log": "/srv/log/zope.log"}},
     "[zope] instances: instance1 and instance2 would both write /srv/log/zope.log (got 'instance1 instance2')"),
    ({"instances": "instance1", "zeoserver": "zeo", "zeo-transaction-timeout": "1500ms"},
     {"instance1": {"http-address": "127.0.0.1:8091"}},
     "[zope] zeo-transaction-timeout: expected whole seconds such as 5s or 1m (ZEO counts seconds) (got '1500ms')"),
    ({"instances": "instance1", "zeoserver": "instance1"}, {"instance1": {"http-address": "127.0.0.1:8091"}},
     "[zope] zeoserver: part 'instance1' is not a plone.recipe.zeoserver part (recipe 'plone.recipe.zope2instance') "
     "(got 'instance1')"),
])
def test_bad_instances_are_named(tmp_path, zope, instances, message):
    b = buildout(tmp_path, zope, **instances)
    assert error_of(lambda: Recipe(b, "zope", b["zope"])) == message


def test_the_admin_password_is_generated_once_and_kept_private(tmp_path):
    b = site_buildout(tmp_path, admin={"recipe": "sitestack:zope-admin"})
    AdminUser(b, "admin", b["admin"])
    user = b["admin"]["user"]
    name, password = user.split(":", 1)
    path = tmp_path / "var" / "zope" / "admin-password"
    assert name == "admin" and len(password) >= 24 and path.read_text().strip() == password
    assert path.stat().st_mode & 0o777 == 0o600
    again = site_buildout(tmp_path, admin={"recipe": "sitestack:zope-admin"})
    AdminUser(again, "admin", again["admin"])
    assert again["admin"]["user"] == user
