"""Constants for the Enphase IQ Gateway integration."""

from __future__ import annotations

from datetime import timedelta
import logging
from typing import Final

DOMAIN: Final = "enphase_iq_gateway"
LOGGER = logging.getLogger(__package__)

MANUFACTURER: Final = "Enphase Energy"

# A form the user waits on reads /info with this timeout, and without the poll's retry.
FLOW_REQUEST_TIMEOUT: Final = 15.0

CONF_SERIAL: Final = "serial"
# An entry whose account signs in in two steps (password, then a one-time code): its
# e-mail address is kept, its password and the code are not (see token_manager.py).
CONF_TWO_STEP: Final = "two_step"
# The one-time code form's fields.
CONF_CODE: Final = "code"
CONF_NEW_CODE: Final = "new_code"

# Options
CONF_SCAN_INTERVAL: Final = "scan_interval"
CONF_INVERTER_ENTITIES: Final = "inverter_entities"
DEFAULT_SCAN_INTERVAL: Final = 300
MIN_SCAN_INTERVAL: Final = 60
MAX_SCAN_INTERVAL: Final = 3600
# The fast power lane: 0 (off), or seconds between two reads of what power sensors show.
CONF_POWER_INTERVAL: Final = "power_interval"
MIN_POWER_INTERVAL: Final = 5
MAX_POWER_INTERVAL: Final = 60

# Token renewal. A token is renewed once a third of its life is left, but never earlier
# than RENEW_MARGIN_MAX before it expires: one-year owner tokens are renewed 30 days
# ahead (plenty of days to ride out a cloud outage), 12-hour installer tokens 4 hours
# ahead (dozens of polls' worth of retries). A failed renewal is retried after
# RENEW_RETRY_INTERVAL while the old token stays in use: that is also the least time
# between two cloud sign-ins of one entry, whatever asks for them.
RENEW_MARGIN_MAX: Final = timedelta(days=30)
RENEW_LIFETIME_FRACTION: Final = 3
RENEW_RETRY_INTERVAL: Final = timedelta(minutes=15)
# Renewals that may fail in a row (the cloud down, or answering a page) while no token
# works, before a repair issue says so: an hour's worth at RENEW_RETRY_INTERVAL. The
# renewal goes on being retried (a cloud outage ends by itself); the user is not asked.
MAX_FAILED_RENEWALS: Final = 4
# Where the entry keeps a salted fingerprint of credentials Enphase's cloud refused (never
# the credentials themselves): they are not sent again, across restarts and host changes,
# until the user gives others (see token_manager.py).
CONF_REFUSED_CREDENTIALS: Final = "refused_credentials"
# How long the gateway may refuse tokens (one that has just restarted does so for a
# moment) before the user is asked: 15 minutes, or REFUSAL_POLLS polls in a row refused,
# whichever comes first (at the default interval both are the same). Only polls count as
# polls: setup attempts (Home Assistant retries a setup 5, 10, 20 s ... apart) and
# power-lane ticks count by time only.
REFUSAL_GRACE: Final = timedelta(minutes=15)
REFUSAL_POLLS: Final = 4
# A poll is abandoned (one unavailable poll) once it has run this share of the interval.
POLL_DEADLINE_FRACTION: Final = 0.8

# A pasted token cannot be renewed: the user is warned (a repair issue) this long ahead.
PASTED_TOKEN_WARNING: Final = timedelta(days=30)
ISSUE_TOKEN_EXPIRING: Final = "token_expiring"  # noqa: S105 - an issue id, not a secret
# The same for an entry with two-step sign-in: fixable, its repair flow signs in again.
ISSUE_TOKEN_EXPIRING_TWO_STEP: Final = "token_expiring_two_step"  # noqa: S105
# While the gateway refuses the token and Home Assistant retries (not fixable: it ends by
# itself, or in a reauthentication).
ISSUE_TOKEN_REFUSED: Final = "token_refused"  # noqa: S105 - an issue id, not a secret
# Renewal has failed MAX_FAILED_RENEWALS times in a row while no token works (retried on).
ISSUE_RENEWAL_FAILING: Final = "renewal_failing"
# Reauthentication is needed but Home Assistant cannot start it (another flow of the entry,
# such as a Reconfigure left open, is in progress): fixable, its flow signs in again.
ISSUE_SIGN_IN_AGAIN: Final = "sign_in_again"
