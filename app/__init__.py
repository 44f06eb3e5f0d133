"""Stairway: self-hosted incident paging and escalation."""
