"""Operator NTP service (femtos need trusted time to validate certificates, TS 33.320 clause 7)."""
