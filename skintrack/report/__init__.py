"""What the user reads: charts, the dermatologist report, guidance, reminders."""
