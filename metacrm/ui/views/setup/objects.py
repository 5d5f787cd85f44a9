"""The object manager: objects and their fields, of every field type."""
