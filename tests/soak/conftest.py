"""The Home Assistant tests' fixtures, for the soak."""

from tests.integration.conftest import (  # noqa: F401 - fixtures
    auto_enable_custom_integrations,
    cloud_client,
)
