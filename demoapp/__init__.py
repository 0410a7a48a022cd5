"""demoapp: a small plain-WSGI notes application on the ZODB, the app sitestack serves by default.

Routes: GET / (HTML notes page, X-Served-By), POST /notes (form field `text`; 303 to /, or
201 JSON with Accept: application/json; a unique id in the form field `id` or the
`Idempotency-Key` header stores the note once however often the POST is retried), GET /api/notes
(JSON; ?limit=N, ?all=1 for every note), GET /health (200 after a
database read, 503 otherwise), GET /cached (Cache-Control: public, max-age=60), GET /api/jobs
(the worker pool's queue; ?note=ID adds that note's word count). Saving a note queues a job.
"""
from sitestack.demoapp.app import application

__all__ = ["application"]
