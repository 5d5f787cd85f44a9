"""Dashboards as metadata: a grid of widgets drawn with ECharts."""
