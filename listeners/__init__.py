"""sitestack's event listeners: memory quotas and health checks that restart through sitestack.control.restart."""
