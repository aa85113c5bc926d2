"""The transfer planner: per scenario, which sources to take knowledge from, with every score component."""
