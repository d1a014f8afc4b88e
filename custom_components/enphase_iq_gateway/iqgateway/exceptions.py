"""Exceptions raised by the IQ Gateway client: one tree with one root.

Nothing from aiohttp, json or xml ever escapes the client; callers catch these. Errors
of a request are raised outside the handler of aiohttp's: none has an aiohttp exception as
its cause or context, so none holds the request's headers (the bearer token).

    IQGatewayError
    ├── IQGatewayConnectionError          the gateway could not be reached
    │   └── IQGatewayTimeoutError         ... or did not answer in time
    ├── IQGatewayResponseError            it answered with an error status or a body that
    │                                     is not what the endpoint returns (HTML for JSON)
    ├── IQGatewayAuthenticationError      it refused the token (401/403)
    ├── IQGatewayUnsupportedError         not an IQ Gateway, or firmware we cannot talk to
    ├── IQGatewayWrongGatewayError        another gateway (serial) answers at the address
    ├── InvalidTokenError                 a string that is not an Enphase JWT
    └── EnlightenError                    the Enphase cloud (Enlighten / Entrez)
        ├── EnlightenUnavailableError     failing (5xx, a maintenance page)
        │   └── EnlightenConnectionError  unreachable from here (DNS, refused, timed out)
        ├── EnlightenInvalidCredentialsError
        ├── EnlightenAccountBlockedError  sign-ins blocked (by Enphase, or too many codes)
        ├── EnlightenMFARequiredError     a second step this client cannot take: paste a token
        │   └── EnlightenCodeRequiredError  a one-time code: sign_in() + submit_code() take it
        ├── EnlightenInvalidCodeError     Enlighten did not accept the one-time code
        │   └── EnlightenCodeExpiredError ... because it, or its sign-in, is too old
        ├── EnlightenSerialNotOnAccountError
        └── EnlightenInvalidResponseError answered, but not with a token for this gateway
"""

from __future__ import annotations


class IQGatewayError(Exception):
    """Root of every error the client raises."""


class IQGatewayConnectionError(IQGatewayError):
    """The gateway could not be reached (refused, reset, DNS, TLS, a host that is no host)."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        """``transient``: one quick retry may cure it (a reset mid-request, a timeout)."""
        super().__init__(message)
        self.transient = transient


class IQGatewayTimeoutError(IQGatewayConnectionError):
    """The gateway did not answer in time."""

    def __init__(self, message: str) -> None:
        """A timeout is worth its one retry."""
        super().__init__(message, transient=True)


class IQGatewayResponseError(IQGatewayError):
    """The gateway answered, but not with what the endpoint should return."""

    def __init__(self, message: str, *, status: int | None = None, garbled: bool = False) -> None:
        """Keep the HTTP status (None when the status was fine but the body was not).

        ``garbled``: the body cannot be read at all (an HTML page where JSON belongs, a
        body cut off, one that does not decompress): a bad answer this time, not proof
        that the endpoint answers something else.
        """
        super().__init__(message)
        self.status = status
        self.garbled = garbled


class IQGatewayAuthenticationError(IQGatewayError):
    """The gateway refused the token (HTTP 401 or 403)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        """Keep the HTTP status."""
        super().__init__(message)
        self.status = status


class IQGatewayUnsupportedError(IQGatewayError):
    """The host is not an IQ Gateway, or runs firmware the client cannot talk to."""


class IQGatewayWrongGatewayError(IQGatewayError):
    """The gateway at the address is not the one expected (another serial number)."""

    def __init__(self, *, expected: str, found: str) -> None:
        """Keep both serials."""
        super().__init__(f"the gateway at this address is {found}, not {expected}")
        self.expected = expected
        self.found = found


class InvalidTokenError(IQGatewayError):
    """A token that is not a readable Enphase JWT."""


class EnlightenError(IQGatewayError):
    """Root of the errors from the Enphase cloud."""


class EnlightenUnavailableError(EnlightenError):
    """The Enphase cloud failed (5xx, a maintenance page), or could not be reached."""


class EnlightenConnectionError(EnlightenUnavailableError):
    """The Enphase cloud could not be reached from here (DNS, refused, timed out)."""


class EnlightenInvalidCredentialsError(EnlightenError):
    """Enlighten refused the e-mail address or password."""


class EnlightenAccountBlockedError(EnlightenError):
    """Enphase blocks sign-ins to the account: blocked, or too many wrong one-time codes."""


class EnlightenMFARequiredError(EnlightenError):
    """The account signs in with a second step this client cannot take: paste a token.

    An older multi-factor reply, a two-step reply without the cookies the code must be
    sent with, or code endpoints that do not take a code from this client.
    """


class EnlightenCodeRequiredError(EnlightenMFARequiredError):
    """The account signs in with a one-time code: ``sign_in`` and ``submit_code`` take it.

    Raised by ``fetch_token``, which signs in with a password alone (token renewal).
    """


class EnlightenInvalidCodeError(EnlightenError):
    """Enlighten did not accept the one-time code (a wrong code: try again)."""


class EnlightenCodeExpiredError(EnlightenInvalidCodeError):
    """The one-time code, or the sign-in it belongs to, has expired: ask for a new one."""


class EnlightenSerialNotOnAccountError(EnlightenError):
    """Entrez will not issue a token for this serial to this account."""


class EnlightenInvalidResponseError(EnlightenError):
    """The cloud answered, but not with a token for this gateway."""


class EnlightenUnknownReplyError(EnlightenInvalidResponseError):
    """The cloud answered in a way this client does not know: paste a token instead.

    A sign-in refused as not acceptable (HTTP 406), or a one-time code answered with a
    reply of a shape on record nowhere. The message names the reply's shape (status, field
    and cookie names), never a value.
    """
