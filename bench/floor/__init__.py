"""The floor: the least a Django endpoint can do, to measure wxsite against.

Two views under the same settings and gunicorn as wxsite: `/floor/` answers every POST with a
constant XML reply without reading the body (Django's own cost per request), and
`/floor-insert/` also stores the body as one row with one INSERT (plus the database's cost).
No middleware, no templates, no sessions: whatever wxsite spends above these is its own.
"""
