"""Responding from a page: action links, Slack buttons and SMS replies act as the paged user."""
