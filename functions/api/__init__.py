"""The HTTP API Lambda: the sessions and failover routes of the contract, plus health and docs."""
