"""appserver: run one sitestack app client, a WSGI application on a ZODB over ZEO, served by waitress.

Usage (bin/clientN passes these; later arguments override earlier ones)::

    python -m sitestack.appserver --name client1 --listen 127.0.0.1:8081 --zeo 127.0.0.1:8100 \\
        --blob-cache var/blobcache/client1 [--app sitestack.demoapp:application] [--threads 4] \\
        [--health-path /health] [--connect-timeout 60] [--health-timeout 5]

--name NAME             client name; the app sees it as environ['sitestack.client'] and the
                        SITESTACK_CLIENT environment variable; also X-Served-By of health answers
--listen HOST:PORT      where waitress serves HTTP (an IP address; [::1]:PORT for IPv6)
--zeo HOST:PORT         the ZEO server; retried with a growing delay until --connect-timeout
--blob-cache DIR        this client's own blob cache (created 0700; not shared with the server)
--app MODULE:CALLABLE   the WSGI application (default sitestack.demoapp:application); the app finds the
                        ZODB.DB in environ['sitestack.db'] and opens its own connections
--threads N             waitress worker threads (default 4)
--health-path PATH      answered by the runner: 200 "ok NAME" after a real database read, 503
                        with the reason otherwise; '' leaves the path to the application
--connect-timeout SECS  how long to retry the ZEO server at start (default 60); then exit 1
--health-timeout SECS   how long a health check may wait for the database (default 5)

Exit status: 0 after SIGTERM/SIGINT (server and database closed), 1 when the client cannot
start (one line on stderr saying why), 2 for a bad argument.
"""
from sitestack.appserver.runner import main

__all__ = ["main"]
