"""Weather features: Turkey's provinces and (later) their daily forecasts."""
