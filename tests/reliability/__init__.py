"""Hostile files, faults and bad input (issue 12): no lost data, no crash, no hang, nothing half-done."""
