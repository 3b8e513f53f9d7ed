"""The webhook Lambda: OpenVidu's webhooks in, durably queued, session effects applied."""
