"""sitestack: the recipes and programs of a supervised ZEO / app client / haproxy / varnish stack.

The subpackages live in the checkout's top-level folders (recipes/, appserver/, control/, ...) and are
installed under this one name (pyproject.toml's [tool.setuptools] package-dir), so that they never
collide with a site's own modules: sitestack.recipes, sitestack.appserver, sitestack.control, ...
"""
