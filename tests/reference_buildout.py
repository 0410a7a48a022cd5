"""The supervisor section of the reference Plone buildout (collective.recipe.supervisor syntax)."""

BIN = "/srv/plone/bin"
REFERENCE = {
    "programs": f"""
        10 zeoserver {BIN}/zeoserver [foreground] /srv/plone/parts/zeoserver true
        20 client1 {BIN}/client1 [console] /srv/plone/parts/client1 true
        20 client2 {BIN}/client2 [console] /srv/plone/parts/client2 true
        30 haproxy {BIN}/haproxy [-f /srv/plone/parts/haproxy-config/haproxy.conf -db] true
        """,
    "eventlisteners": f"""
        MemoryMonitor TICK_60 {BIN}/memmon [-g zeo-clients=800MB -m admin@example.com]
        HttpOk1 TICK_60 {BIN}/httpok [-p client1 -t 20 http://127.0.0.1:8081/]
        HttpOk2 TICK_60 {BIN}/httpok [-p client2 -t 20 http://127.0.0.1:8082/]
        """,
    "groups": """
        20 zeo-clients client1,client2
        """,
    "plugins": "superlance",
    "port": "9001",
    "user": "admin",
    "password": "s3cret-for-this-test",
}
# buildout hands a recipe multi-line values with each line's indentation removed
REFERENCE = {key: "\n".join(line.strip() for line in value.splitlines()) for key, value in REFERENCE.items()}
