#!/usr/bin/env python3
"""An OAI-PMH 2.0 provider for the tests, built on pyoai 2.5.0 (PyPI), serving the test
catalogue (tests/zebra/records) as `marc21` MARCXML records. Record i of the catalogue has
datestamp 2024-01-01 plus i days, so from/until can be tested; leader/05 `d` records are
served as deleted headers. Ten records per page, with resumption tokens.

    provider.py RECORDS_DIR PORT [--fail-token-once] [--deleted ID,ID…]

--deleted serves those records as deleted too (a library withdrew them).
--fail-token-once answers the second resumptionToken request of each full harvest with
badResumptionToken, as a provider whose tokens expired would.
"""
import cgi
import datetime
import http.server
import os
import sys
import urllib.parse

# pyoai 2.5.0 still calls cgi.parse_qs, which Python removed in 3.8.
cgi.parse_qs = urllib.parse.parse_qs

from lxml import etree  # noqa: E402
from oaipmh import common, error, metadata, server  # noqa: E402

SLIM = "http://www.loc.gov/MARC21/slim"
BASE_DATE = datetime.datetime(2024, 1, 1)


def load(records_dir, also_deleted=()):
    items = []
    for db in ("marc21", "unimarc"):
        tree = etree.parse(os.path.join(records_dir, f"{db}.xml"))
        for rec in tree.getroot().findall(f"{{{SLIM}}}record"):
            rid = rec.find(f"{{{SLIM}}}controlfield[@tag='001']").text
            leader = rec.find(f"{{{SLIM}}}leader").text
            stamp = BASE_DATE + datetime.timedelta(days=len(items))
            deleted = leader[5] == "d" or rid in also_deleted
            items.append((f"oai:spindle-test:{db}:{rid}", stamp, deleted, rec))
    return items


class Catalogue:
    def __init__(self, items):
        self.items = items

    def identify(self):
        return common.Identify(
            repositoryName="Spindle test catalogue",
            baseURL="http://127.0.0.1/oai",
            protocolVersion="2.0",
            adminEmails=["nobody@example.invalid"],
            earliestDatestamp=BASE_DATE,
            deletedRecord="persistent",
            granularity="YYYY-MM-DDThh:mm:ssZ",
            compression=["identity"],
        )

    def listMetadataFormats(self, identifier=None):
        return [("marc21", "http://www.loc.gov/standards/marcxml/schema/MARC21slim.xsd", SLIM)]

    def listSets(self):
        raise error.NoSetHierarchyError()

    def _select(self, metadataPrefix, set=None, from_=None, until=None):
        if metadataPrefix != "marc21":
            raise error.CannotDisseminateFormatError(metadataPrefix)
        out = [i for i in self.items if (from_ is None or i[1] >= from_) and (until is None or i[1] <= until)]
        if not out:
            raise error.NoRecordsMatchError()
        return out

    def _header(self, item):
        ident, stamp, deleted, _ = item
        return common.Header(None, ident, stamp, [], deleted)

    def listIdentifiers(self, metadataPrefix, set=None, from_=None, until=None):
        return [self._header(i) for i in self._select(metadataPrefix, set, from_, until)]

    def listRecords(self, metadataPrefix, set=None, from_=None, until=None):
        out = []
        for item in self._select(metadataPrefix, set, from_, until):
            meta = None if item[2] else common.Metadata(None, {"record": [item[3]]})
            out.append((self._header(item), meta, None))
        return out

    def getRecord(self, metadataPrefix, identifier):
        for item in self.items:
            if item[0] == identifier:
                meta = None if item[2] else common.Metadata(None, {"record": [item[3]]})
                return self._header(item), meta, None
        raise error.IdDoesNotExistError(identifier)


def marc_writer(element, meta):
    for rec in meta.getMap()["record"]:
        element.append(etree.fromstring(etree.tostring(rec)))


def main():
    records_dir, port = sys.argv[1], int(sys.argv[2])
    fail_once = "--fail-token-once" in sys.argv
    also_deleted = set()
    if "--deleted" in sys.argv:
        also_deleted = set(sys.argv[sys.argv.index("--deleted") + 1].split(","))
    registry = metadata.MetadataRegistry()
    registry.registerWriter("marc21", marc_writer)
    srv = server.Server(Catalogue(load(records_dir, also_deleted)), registry, resumption_batch_size=10)
    state = {"token_requests": 0, "failed": False}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            query = urllib.parse.urlparse(self.path).query
            args = {k: v[0] for k, v in urllib.parse.parse_qs(query).items()}
            if args.get("verb") == "ListRecords" and "resumptionToken" not in args and "from" not in args:
                # A fresh full harvest: it will meet one expired token again.
                state["token_requests"] = 0
                state["failed"] = False
            if "resumptionToken" in args:
                state["token_requests"] += 1
                if fail_once and state["token_requests"] == 2 and not state["failed"]:
                    state["failed"] = True
                    body = (
                        '<?xml version="1.0" encoding="UTF-8"?>'
                        '<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">'
                        "<responseDate>2024-01-01T00:00:00Z</responseDate>"
                        '<request verb="ListRecords">http://127.0.0.1/oai</request>'
                        '<error code="badResumptionToken">The token has expired</error></OAI-PMH>'
                    ).encode()
                    return self.reply(body)
            self.reply(srv.handleRequest(args))

        def reply(self, body):
            if isinstance(body, str):
                body = body.encode("utf-8")
            self.send_response(200)
            self.send_header("Content-Type", "text/xml; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
