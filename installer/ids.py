"""The native-messaging host name and the pinned extension IDs: the installer's defaults live
here and nowhere else.

The extension pins its IDs (Chrome: a manifest ``key``; Firefox: the gecko id) and records
them in ``extension/ids.json``; a test keeps these constants equal to that file, so an
installed package (which does not ship ``extension/``) still writes the right manifests.
"""

from __future__ import annotations

import base64
import hashlib

HOST_NAME = "com.cloaker.host"
HOST_DESCRIPTION = "Cloaker: cloaks faces in photos before they are uploaded"

CHROME_EXTENSION_ID = "nmincgncfpgbmllmmlokjmbnkmoiedko"
FIREFOX_EXTENSION_ID = "cloaker@cloaker.invalid"


def chrome_id_from_key(key_b64: str) -> str:
    """The Chromium extension ID of a manifest ``key`` (base64 DER SubjectPublicKeyInfo):
    the first 32 hex digits of its sha256, each mapped 0-f -> a-p."""
    digest = hashlib.sha256(base64.b64decode(key_b64)).hexdigest()[:32]
    return "".join(chr(ord("a") + int(c, 16)) for c in digest)
