"""Home Assistant tests of the integration."""
