"""OpenVidu webhooks: what they change in a session, and their relay to the customer's endpoint."""
