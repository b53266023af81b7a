"""Tests of the start scripts (scripts/)."""
