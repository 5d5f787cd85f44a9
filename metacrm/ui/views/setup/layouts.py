"""The layout editor: sections, columns, fields and related lists by drag and drop, with conditions."""
