"""The ``/v1`` routers: movies, users and ratings, recommendations, operations."""
