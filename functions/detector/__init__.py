"""The detector Lambda: finds dead and hung recorders and starts their backups."""
