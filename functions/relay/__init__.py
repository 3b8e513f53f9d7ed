"""The relay Lambda: queued webhooks to the customer's endpoint, with retries and a DLQ."""
