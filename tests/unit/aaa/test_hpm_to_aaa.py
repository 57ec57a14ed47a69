"""The whole hosting-party path without charon: per-run provisioning (store + card file), the HPM
process answering over its socket, an EAP-AKA peer using it, the RADIUS server on 127.0.0.1.
Removing the HPM makes the next authentication fail; inserting it again makes it succeed."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from pyrad import packet as rp

from testbed.aaa.eap_aka import AkaPeer
from testbed.aaa.radius_server import RadiusEapServer
from testbed.aaa.vectors import HpmVectors
from testbed.core import provision
from testbed.core.config import parse_core_settings
from testbed.core.udr import SubscriberStore, load_subscriber_file
from testbed.hpm.client import HpmClient
from testbed.runtime.events import EventWriter, read_events

from .helpers import SECRET, mppe_keys, radius_client, radius_eap, radius_server

ROOT = Path(__file__).resolve().parents[3]
IMSI = "001010000009001"


def test_provisioned_hpm_authenticates_through_its_socket_until_removed(tmp_path):
    settings = parse_core_settings({"femtos": [{"name": "femto1", "gnb_id": 1, "authorised_cag_ids": [1],
                                                "hpm": {"imsi": IMSI, "required": True}}]})
    provision.materialise(settings, tmp_path / "core")
    card = provision.write_hpm_cards(settings, tmp_path)["femto1"]
    store = SubscriberStore(tmp_path / "core" / "udr.sqlite")
    store.load(load_subscriber_file(tmp_path / "core" / provision.SUBSCRIBERS_FILE))
    sock, hpm_events = card.parent / "hpm.sock", card.parent / "events.jsonl"
    hpm = subprocess.Popen([sys.executable, "-m", "testbed.hpm", "--card", str(card), "--socket", str(sock),
                            "--events", str(hpm_events)], cwd=ROOT)
    aaa_events = tmp_path / "aaa.jsonl"
    try:
        deadline = time.monotonic() + 20
        while not read_events(hpm_events, "hpm.ready"):
            assert hpm.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        client = HpmClient(sock)
        server = RadiusEapServer(SECRET, HpmVectors(store), EventWriter(aaa_events, "aaa"))
        with radius_server(server) as port:
            peer = AkaPeer(client.identity, client.authenticate)
            reply, req, codes = radius_eap(radius_client(port), peer)
            assert codes[-1] == rp.AccessAccept and mppe_keys(reply, SECRET, req)[0] == peer.msk[:32]

            client.remove()
            peer = AkaPeer(lambda: "0" + IMSI + "@nai.5gc.mnc001.mcc001.3gppnetwork.org", client.authenticate)
            _, _, codes = radius_eap(radius_client(port), peer)
            assert codes[-1] == rp.AccessReject and peer.last_result == "no_card"

            client.insert()
            peer = AkaPeer(client.identity, client.authenticate)
            _, _, codes = radius_eap(radius_client(port), peer)
            assert codes[-1] == rp.AccessAccept
    finally:
        hpm.terminate()
        hpm.wait(10)
        store.close()
    assert [e["femto"] for e in read_events(aaa_events, "aaa.accept")] == ["femto1", "femto1"]
    assert [e["result"] for e in read_events(hpm_events, "hpm.authenticate")] == ["ok", "no_card", "ok"]
    assert "client error" in read_events(aaa_events, "aaa.reject")[0]["reason"]
