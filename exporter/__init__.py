"""exporter: the site's Prometheus exporter (see exporter.main)."""
