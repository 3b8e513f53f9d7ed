"""The recorder agent: records in chunks, uploads them write-once, heartbeats the controller, finalizes."""
