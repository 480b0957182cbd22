"""Alert rules, raised alerts and their deliveries (webhook, email) will live here."""
