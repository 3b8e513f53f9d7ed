"""Domain errors. Each carries the HTTP status the API answers with and a message naming the problem."""

from __future__ import annotations


class DomainError(Exception):
    status_code = 400

    def __init__(self, message: str, **extra: object) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra


class SessionNotFound(DomainError):
    status_code = 404

    def __init__(self, session_id: str) -> None:
        super().__init__(f"Session {session_id} not found", sessionId=session_id)


class SessionExists(DomainError):
    def __init__(self, session_id: str) -> None:
        super().__init__(f"Session with ID {session_id} already exists")


class StaleEpoch(DomainError):
    """Fencing: a recorder of an older generation must stop at once."""

    status_code = 409

    def __init__(self, session_id: str, sent: int, current: int) -> None:
        relation = "older than" if sent < current else "ahead of"
        super().__init__(
            f"epoch {sent} is {relation} session {session_id}'s epoch {current}: "
            "this recorder no longer owns it",
            sessionId=session_id,
            currentEpoch=current,
        )


class ConcurrentUpdate(DomainError):
    """Retryable: never 409, which tells a recorder it has been fenced off and must stop."""

    status_code = 503

    def __init__(self, session_id: str) -> None:
        super().__init__(f"Session {session_id} kept changing under this request; try again", retryable=True)


class QueueUnavailable(Exception):
    """SQS did not take the message: the caller must not say 200 (the API answers 503)."""
