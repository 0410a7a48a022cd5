"""What a command knows about the site: site.json (sitestack.recipes.description) and supervisord's XML-RPC."""
from __future__ import annotations

from sitestack.recipes.address import Address
from sitestack.recipes.description import Balancer, Consumer, ControlServer, Site, SiteProgram, load_site

__all__ = ["Address", "Balancer", "Consumer", "ControlServer", "Site", "SiteProgram", "load_site"]
