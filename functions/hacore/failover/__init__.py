"""Failover: the rules that call a recorder dead or hung, and the engine that takes over exactly once."""
