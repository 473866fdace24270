"""Weather: provinces in conversation, Open-Meteo, the morning push."""
