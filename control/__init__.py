"""Operator commands for a built site: `bin/sitestack COMMAND` (see sitestack.control.cli)."""
