"""The sales forecast: opportunities by close period against quotas."""
