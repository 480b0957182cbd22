"""Alerts: rules on a server's or node's state and resources, the alerts they raise, and their delivery by webhook or email (beat evaluates the rules)."""
