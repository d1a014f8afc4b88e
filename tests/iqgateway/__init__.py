"""Tests of the HA-free client, against the simulator over loopback."""
