"""The list-view and kanban editor."""
