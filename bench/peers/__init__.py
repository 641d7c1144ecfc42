"""The peers: what a developer would pick instead of wxsite, each answering a text with a text.

They run from bench/.peers-venv (bench/requirements.txt), under the same gunicorn settings as
every other target, and import nothing from wxsite.
"""
