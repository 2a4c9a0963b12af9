"""Schemathesis hooks for test_fuzz.py: `?wait=` may legitimately hold a
request for up to 300 s (the consumers the fuzzer creates never reach the
state it waits for), so generated waits are capped at one second to keep
the run bounded. Everything else is left to the generator."""

import schemathesis


@schemathesis.hook
def map_query(context, query):
    if query and isinstance(query.get("wait"), (int, float)) and not isinstance(query["wait"], bool):
        query["wait"] = min(query["wait"], 1)
    return query
