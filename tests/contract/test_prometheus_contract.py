"""Prometheus' own promtool accepts the generated scrape config and alert rules, and the rules fire
when they should (promtool test rules with tests/contract/prometheus_rules_test.yml)."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from buildout_harness import site_buildout
from support import check_golden

from sitestack.recipes.convert import Duration
from sitestack.recipes.exporter import Exporter, Recipe, render_alert_rules, render_prometheus_config

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
RULES_TEST = Path(__file__).with_name("prometheus_rules_test.yml")


def promtool(*arguments: str) -> str:
    result = subprocess.run([PROMTOOL, *arguments], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def test_golden_files() -> None:
    exporter = Exporter("127.0.0.1", 9180)
    check_golden("prometheus-alerts.yml", render_alert_rules(exporter))
    check_golden("prometheus.yml", render_prometheus_config(exporter, "/srv/site/parts/exporter/alerts.yml"))


@pytest.mark.parametrize("exporter", [
    Exporter("127.0.0.1", 9180),
    Exporter("::1", 9999, job="shop-1", scrape_interval=Duration(1000), alert_after=Duration(2000)),
], ids=["default", "ipv6-short"])
def test_promtool_checks_config_and_rules(tmp_path: Path, exporter: Exporter) -> None:
    rules = tmp_path / "alerts.yml"
    rules.write_text(render_alert_rules(exporter))
    config = tmp_path / "prometheus.yml"
    config.write_text(render_prometheus_config(exporter, str(rules)))
    assert "SUCCESS: 9 rules found" in promtool("check", "rules", str(rules))
    assert "is valid prometheus config file syntax" in promtool("check", "config", str(config))


def test_alert_rules_fire_as_specified(tmp_path: Path) -> None:
    (tmp_path / "alerts.yml").write_text(render_alert_rules(Exporter("127.0.0.1", 9180)))
    shutil.copy(RULES_TEST, tmp_path / RULES_TEST.name)
    promtool("test", "rules", str(tmp_path / RULES_TEST.name))


def test_promtool_test_can_fail(tmp_path: Path) -> None:
    """The rules test really checks: a rule that never fires makes it fail."""
    text = render_alert_rules(Exporter("127.0.0.1", 9180)).replace("sitestack_client_health_ok == 0",
                                                                      "sitestack_client_health_ok == 2")
    (tmp_path / "alerts.yml").write_text(text)
    shutil.copy(RULES_TEST, tmp_path / RULES_TEST.name)
    result = subprocess.run([PROMTOOL, "test", "rules", str(tmp_path / RULES_TEST.name)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode != 0 and "SitestackClientDown" in result.stdout + result.stderr


def test_recipe_writes_both_files_next_to_the_exporter(tmp_path: Path) -> None:
    buildout = site_buildout(tmp_path, exporter={"port": "9181", "scrape-interval": "5s"})
    options = buildout["exporter"]
    recipe = Recipe(buildout, "exporter", options)
    recipe.eggs = []  # the files only: bin/exporter needs eggs (the e2e tests build it for real)
    recipe.directory.mkdir(parents=True)
    from sitestack.recipes.files import write_if_changed

    write_if_changed(recipe.alerts_yml, render_alert_rules(recipe.exporter))
    write_if_changed(recipe.prometheus_yml, render_prometheus_config(recipe.exporter, str(recipe.alerts_yml)))
    assert options["prometheus-config"] == str(tmp_path / "parts" / "exporter" / "prometheus.yml")
    assert options["url"] == "http://127.0.0.1:9181/metrics"
    assert "scrape_interval: 5s" in Path(options["prometheus-config"]).read_text()
    promtool("check", "config", options["prometheus-config"])
