"""What a command knows about the site: site.json (recipes.description) and supervisord's XML-RPC."""
from __future__ import annotations

from recipes.description import Balancer, Consumer, ControlServer, Site, SiteProgram, load_site

__all__ = ["Balancer", "Consumer", "ControlServer", "Site", "SiteProgram", "load_site"]
