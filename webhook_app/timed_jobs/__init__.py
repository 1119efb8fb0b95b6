"""The timed jobs of deployment/systemd (their calendars read from the timer files), and running one now."""
