"""Area school calendars shipped with notify (package data)."""
