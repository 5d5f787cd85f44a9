"""Apps and navigation: the order of the objects and their grouping into apps, per role."""
