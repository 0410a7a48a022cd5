"""The jinja2 templates of the generated files (*.j2), installed as sitestack.templates' package data."""
