"""Console pages that are not one model's admin: the home dashboard and search as a user."""
