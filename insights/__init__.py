"""Insights for operators: unanswered queries, rule performance and traffic, read from the log.

An app of its own, so a deployment can leave it out of INSTALLED_APPS without touching the
endpoint or the rest of the admin. It only reads replies' models and never imports the endpoint.
"""
