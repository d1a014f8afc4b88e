"""What the config flow and the repair flows share: forms, the token proof, times.

Kept apart from ``config_flow`` so that no module needs to import the flow itself.
"""

from __future__ import annotations

from contextlib import suppress
from datetime import datetime

from homeassistant import config_entries
from homeassistant.const import CONF_PASSWORD, CONF_TOKEN, CONF_USERNAME
from homeassistant.core import HomeAssistant
from homeassistant.helpers import selector
from homeassistant.util import dt as dt_util

from . import connections
from .const import (
    CONF_CODE,
    CONF_NEW_CODE,
    CONF_REFUSED_CREDENTIALS,
    CONF_TWO_STEP,
    FLOW_REQUEST_TIMEOUT,
    LOGGER,
)
from .iqgateway import (
    InvalidTokenError,
    IQGateway,
    IQGatewayAuthenticationError,
    IQGatewayError,
    IQGatewayResponseError,
    IQGatewayTimeoutError,
    TokenInfo,
    parse_token,
)
from .iqgateway.endpoints import PRODUCTION

# Home Assistant 2025.8+ reloads an entry for new options by itself.
RELOADS_FOR_OPTIONS = hasattr(config_entries, "OptionsFlowWithReload")

try:  # Home Assistant 2026.x validates forms with probatio, a drop-in for voluptuous
    import probatio as vol
except ImportError:  # pragma: no cover - Home Assistant 2025.x (each leg runs one branch)
    import voluptuous as vol  # type: ignore[no-redef]

# The flows build their forms with ``vol`` from here: one place picks the library.
__all__ = [
    "ACCOUNT_SCHEMA",
    "AUTH_KEYS",
    "CODE_FIELD",
    "CODE_SCHEMA",
    "EMAIL_FIELD",
    "PASSWORD_FIELD",
    "RELOADS_FOR_OPTIONS",
    "TEXT_FIELD",
    "TOKEN_FIELD",
    "TOKEN_SCHEMA",
    "async_check_pasted_token",
    "async_prove_token",
    "local_time",
    "vol",
]

# What an entry stores about how it signs in: a new way to sign in replaces all of it.
AUTH_KEYS = (CONF_USERNAME, CONF_PASSWORD, CONF_TWO_STEP, CONF_TOKEN, CONF_REFUSED_CREDENTIALS)

TEXT_FIELD = selector.TextSelector()
EMAIL_FIELD = selector.TextSelector(
    selector.TextSelectorConfig(type=selector.TextSelectorType.EMAIL, autocomplete="username")
)
PASSWORD_FIELD = selector.TextSelector(
    selector.TextSelectorConfig(
        type=selector.TextSelectorType.PASSWORD, autocomplete="current-password"
    )
)
TOKEN_FIELD = selector.TextSelector(selector.TextSelectorConfig(multiline=True))
CODE_FIELD = selector.TextSelector(selector.TextSelectorConfig(autocomplete="one-time-code"))

# Signing in to Enphase's account, without the serial (the renewal repair flow's form).
ACCOUNT_SCHEMA = vol.Schema(
    {vol.Required(CONF_USERNAME): EMAIL_FIELD, vol.Required(CONF_PASSWORD): PASSWORD_FIELD}
)
# A pasted token for a gateway whose serial is known (the sign-in repair flow's form).
TOKEN_SCHEMA = vol.Schema({vol.Required(CONF_TOKEN): TOKEN_FIELD})
# The one-time code; or, ticked, send a new one (so the code is optional).
CODE_SCHEMA = vol.Schema(
    {vol.Optional(CONF_CODE): CODE_FIELD, vol.Optional(CONF_NEW_CODE): selector.BooleanSelector()}
)


def local_time(moment: datetime) -> str:
    """A moment as the user reads it: local time, to the minute, with its time zone."""
    return dt_util.as_local(moment).strftime("%Y-%m-%d %H:%M %Z")


async def async_check_pasted_token(
    hass: HomeAssistant, host: str, text: str, serial: str, known_serial: str | None = None
) -> tuple[TokenInfo | None, dict[str, str], dict[str, str]]:
    """Check a pasted token for gateway ``serial`` at ``host``, and prove it there.

    Returns the token (None if it is no token), the errors by field (``token`` or
    ``base``) and the placeholders they need. ``known_serial``: the gateway's serial as
    read from it, for the proof's requests (``serial`` is what the user typed).
    """
    try:
        token = parse_token(text)
    except InvalidTokenError:
        return None, {CONF_TOKEN: "invalid_token"}, {}
    if token.is_expired(dt_util.utcnow()):
        return token, {CONF_TOKEN: "token_expired"}, {"expired": local_time(token.expires_at)}
    if not token.matches_serial(serial):
        return token, {CONF_TOKEN: "token_wrong_gateway"}, {"token_serial": str(token.serial)}
    if error := await async_prove_token(hass, host, token.token, known_serial):
        return token, {CONF_TOKEN if error == "token_rejected" else "base": error}, {}
    return token, {}, {}


async def async_prove_token(
    hass: HomeAssistant, host: str, token: str, serial: str | None = None
) -> str | None:
    """Have the gateway at ``host`` accept ``token``: None, or an error key.

    A user waits on it: each request has the form's short timeout and no retry.
    ``serial``, where known, makes the requests wait for that gateway's polls.
    """
    session = connections.gateway_session(hass, auto_cleanup=False)
    client = IQGateway(
        host,
        session,
        token=token,
        serial=serial or None,
        request_timeout=FLOW_REQUEST_TIMEOUT,
        slow_request_timeout=FLOW_REQUEST_TIMEOUT,
        retry=False,
    )
    try:
        await client.detect()
        await client.check_jwt()
        # A real endpoint too, for firmware without sessions: a refusal counts, a
        # failing endpoint does not.
        with suppress(IQGatewayResponseError):
            await client.get(PRODUCTION)
    except IQGatewayAuthenticationError:
        return "token_rejected"
    except IQGatewayTimeoutError:
        return "timeout"
    except IQGatewayError:
        return "cannot_connect"
    except Exception:  # noqa: BLE001 - a flow must answer, whatever happens
        LOGGER.exception("Unexpected error while checking the token with the gateway")
        return "unknown"
    finally:
        session.detach()
    return None
