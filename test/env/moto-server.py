"""moto's server with S3's conditional writes made atomic.

Real S3 checks If-None-Match / If-Match and stores the object as one step. moto's threaded server checks, then
stores, so two racing writers can both pass the check — and Sluice's tests of exactly that race (webhook
deduplication, the agent bundle index) then fail for the emulator's reason, not Sluice's. One lock around S3's
object writes and deletes gives the emulator S3's guarantee; every other request stays concurrent.
"""
import sys
import threading

from moto.s3.responses import S3Response
from moto.server import main

_writes = threading.Lock()


def _serialized(method):
    def locked(self, *args, **kwargs):
        with _writes:
            return method(self, *args, **kwargs)

    return locked


for name in ("put_object", "_key_response_delete"):
    setattr(S3Response, name, _serialized(getattr(S3Response, name)))

if __name__ == "__main__":
    sys.exit(main())
