"""Tests for the Enphase IQ Gateway integration, its client and its simulator."""
