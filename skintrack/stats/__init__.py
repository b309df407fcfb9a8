"""Statistics over the stored history: daily values, trends, lagged effects, insights."""
