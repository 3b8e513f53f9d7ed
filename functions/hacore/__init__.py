"""The HA recording controller's domain: models, settings, the session store, failover rules, launchers."""
