"""Notification providers: one module per channel behind the `Provider` protocol."""
