"""Phase registration as a tool plugin (see plugin.json; code in liverview.registration)."""
