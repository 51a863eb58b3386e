"""Tests that kill the mutants cosmic-ray left alive in compiler/ (see docs/testing.md)."""
