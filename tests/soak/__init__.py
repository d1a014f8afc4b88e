"""The soak (scripts/soak): days of simulated time with faults, in Home Assistant."""
