"""zc.buildout recipes of sitestack: thin adapters over pure models and templates."""
