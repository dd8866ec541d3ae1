"""Schemathesis hooks for Spindle's API (loaded through SCHEMATHESIS_HOOKS by tests/api_contract.rs).

A tus PATCH body is application/offset+octet-stream: plain bytes, sent as schemathesis sends
application/octet-stream.
"""

import schemathesis

schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")
