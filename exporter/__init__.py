"""exporter: the site's Prometheus exporter (see sitestack.exporter.main)."""
