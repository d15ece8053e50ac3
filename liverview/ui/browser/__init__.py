"""The study browser, recent items, drag and drop, and the CT / ultrasound workspaces of one window."""
