"""Reports as metadata (kind ``report``), run in SQL within the viewer's scope."""
