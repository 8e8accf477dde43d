"""Moto's server, with DynamoDB requests one at a time.

DynamoDB applies a conditional write or a transaction atomically; moto's
threaded server checks conditions and writes without a lock, so two racing
requests can both pass a check that only one should. Serialising DynamoDB
requests gives the emulator DynamoDB's atomicity. Only DynamoDB's: moto
implements SQS long polling by waiting inside the request, and a lock
around that would stall every other call for up to 20 s.

One fix for speed: moto reads a queue's retention period, for every message
it hands out, by computing all of the queue's attributes, three of which scan
every message in the queue. A receive is then quadratic in the queue's
length and a few hundred messages in flight make every receive slow. The
retention period is read directly instead; the check itself is moto's.
"""

import argparse
import os
import threading

from werkzeug.serving import run_simple

from moto.core.utils import unix_time
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.sqs.models import SQSBackend

parser = argparse.ArgumentParser()
parser.add_argument("-H", "--host", default="127.0.0.1")
parser.add_argument("-p", "--port", type=int, default=4566)
args = parser.parse_args()
os.environ.setdefault("MOTO_PORT", str(args.port))


def retained(self, queue_name, message):
    period = self.get_queue(queue_name).message_retention_period
    return period + message.sent_timestamp / 1000 > unix_time()


# A moto that renamed it would otherwise quietly keep its slow check.
assert hasattr(SQSBackend, "is_message_valid_based_on_retention_period"), "moto changed: see emulator.py"
SQSBackend.is_message_valid_based_on_retention_period = retained

app = DomainDispatcherApplication(create_backend_app)
lock = threading.Lock()


def serialised(environ, start_response):
    if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB"):
        return app(environ, start_response)
    with lock:
        # Drain the response inside the lock: WSGI apps may work lazily.
        return [b"".join(app(environ, start_response))]


run_simple(args.host, args.port, serialised, threaded=True, request_handler=MotoRequestHandler)
