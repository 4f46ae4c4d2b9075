"""The gateway's error hierarchy and its one translation point to HTTP.

Every error a client can see is a ``GatewayError`` subclass carrying its own status, OpenAI
error ``type`` and ``code``. The wire body is OpenAI's: ``{"error": {"message", "type",
"param", "code"}}``. Statuses come from the class, never from matching message text.
"""

from __future__ import annotations

from typing import ClassVar

import orjson
from starlette.responses import Response


class GatewayError(Exception):
    status: ClassVar[int] = 500
    type: ClassVar[str] = "server_error"
    code: ClassVar[str | None] = None

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param

    def body(self) -> dict[str, object]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


class InvalidRequest(GatewayError):
    status = 400
    type = "invalid_request_error"
    code = "invalid_request"


class InvalidJSON(InvalidRequest):
    code = "invalid_json"


class InvalidEncoding(InvalidRequest):
    code = "invalid_encoding"


class BodyTooLarge(InvalidRequest):
    status = 413
    code = "request_too_large"


class InvalidPath(InvalidRequest):
    code = "invalid_path"


class RouteNotModerated(GatewayError):
    """A route that carries prompts or generated text the gateway does not moderate."""

    status = 404
    type = "invalid_request_error"
    code = "route_not_moderated"


class DecisionLogUnavailable(GatewayError):
    """A decision could not be made durable; the request is refused, never half-logged."""

    status = 503
    type = "server_error"
    code = "decision_log_unavailable"


class TooMuchText(BodyTooLarge):
    code = "too_much_text"


class UnsupportedMediaType(InvalidRequest):
    status = 415
    code = "unsupported_media_type"


class ContentPolicyViolation(InvalidRequest):
    code = "content_policy_violation"


class Unauthorized(GatewayError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class Forbidden(GatewayError):
    status = 403
    type = "permission_error"
    code = "forbidden"


class UserSuspended(GatewayError):
    status = 403
    type = "permission_error"
    code = "user_suspended"


class NotFound(GatewayError):
    status = 404
    type = "invalid_request_error"
    code = "not_found"


class MethodNotAllowed(GatewayError):
    status = 405
    type = "invalid_request_error"
    code = "method_not_allowed"


class RateLimited(GatewayError):
    status = 429
    type = "requests"
    code = "rate_limit_exceeded"

    def __init__(self, message: str, *, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after  # seconds, for the Retry-After header


class Overloaded(GatewayError):
    status = 503
    type = "server_error"
    code = "overloaded"


class ModerationUnavailable(GatewayError):
    """A check could not run and the policy says fail closed."""

    status = 503
    type = "server_error"
    code = "moderation_unavailable"


class UpstreamError(GatewayError):
    status = 502
    type = "upstream_error"
    code = "upstream_unavailable"


class UpstreamTimeout(UpstreamError):
    status = 504
    code = "upstream_timeout"


class UpstreamRateLimited(UpstreamError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"


class UpstreamBadResponse(UpstreamError):
    code = "upstream_bad_response"


def error_response(err: GatewayError, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(err.body()),
        status_code=err.status,
        media_type="application/json",
        headers=headers,
    )
