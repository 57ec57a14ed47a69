"""Built-in core benchmark: registrations/s, PDU sessions/s and memory per registered UE.

Each worker process runs one complete core instance in process (UDR on an SQLite file holding
``--subscribers`` subscribers, UDM/SIDF with per-run Profile A keys, AUSF, AMF; for sessions the
SMF with the UPF behind an in-process PFCP peer) and drives it with scripted UEs behind one
femto (the scripted gNB/UE of the unit tests: real SUCI Profile A concealment, USIM 5G-AKA,
NAS security). One registration = Initial UE Message (SUCI) -> SIDF -> 5G-AKA -> Security Mode
-> CAG check -> Initial Context Setup with Registration Accept -> Registration Complete.

Figures (one line each):
- ``core registrations/s``: registrations / CPU seconds spent inside the core's entry points
  (``Amf.ngap_received``, which calls UDM/AUSF/UDR synchronously) in one worker: what one core
  process sustains when its peers cost nothing;
- ``core registrations/s, N workers``: the sum over N AMF instances of one AMF set (distinct AMF
  pointers, one shared UDR file), each in its own process;
- ``end-to-end registrations/s``: wall clock including the simulated UEs/gNB on the same CPUs;
- ``PDU sessions/s``: UL NAS transport -> AMF -> SMF (PFCP establishment with the UPF) -> PDU
  Session Resource Setup -> N2 response -> PFCP modification, core time only;
- ``memory per registered UE``: tracemalloc growth of the core (contexts, caches) per UE.

Run: ``.venv/bin/python benchmarks/core_registration.py [--count 2000] [--workers 2] [--sessions 200]``
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing as mp
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from testbed.core.amf import AmfConfig, SmfCreate, SmfN2Response  # noqa: E402
from testbed.crypto.identity import Supi  # noqa: E402
from testbed.crypto.suci import PROFILE_A  # noqa: E402
from testbed.protocols import nas  # noqa: E402

MCC, MNC = "001", "01"
CAG = 0x101
FIRST_MSIN = 1_000_000


def _core(db: Path, pointer: int, count_subscribers: int, k: str, opc: str):
    from testbed.core.amf import Amf
    from testbed.core.ausf import Ausf
    from testbed.core.udm import HomeNetworkKeys, Udm
    from testbed.core.udr import SubscriberStore, parse_subscriber_data

    store = SubscriberStore(db)
    if store.count() < count_subscribers:
        store.load(parse_subscriber_data({
            "ranges": [{"first_supi": f"imsi-{MCC}{MNC}{FIRST_MSIN:010d}", "count": count_subscribers, "k": k,
                        "opc": opc, "allowed_cag_ids": [CAG]}],
            "femtos": [{"name": "femto1", "mcc": MCC, "mnc": MNC, "gnb_id": 1, "gnb_id_bits": 22,
                        "authorised_cag_ids": [CAG]}]}))
    keys = HomeNetworkKeys.generate()
    udm = Udm(store, keys)
    amf = Amf(AmfConfig(mcc=MCC, mnc=MNC, amf_pointer=pointer), Ausf(udm), udm, store)
    return store, keys, amf


class _Timed:
    """Accumulates the time spent inside the AMF's entry points."""

    def __init__(self, amf) -> None:
        self.seconds = 0.0
        for name in ("ngap_received", "smf_reply", "association_up"):
            orig = getattr(amf, name)
            setattr(amf, name, self._wrap(orig))

    def _wrap(self, fn):
        def timed(*a, **kw):
            t = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                self.seconds += time.perf_counter() - t
        return timed


def worker(args: tuple) -> dict:
    db, pointer, first, count, sessions, measure_memory, k, opc, total_subs = args
    from tests.unit.core.scripted_ran import Harness, ScriptedUe

    store, keys, amf = _core(Path(db), pointer, total_subs, k, opc)
    pub = keys.public_key(next(kid for kid in keys.key_ids() if keys.scheme_of(kid) == PROFILE_A))
    kid_a = next(kid for kid in keys.key_ids() if keys.scheme_of(kid) == PROFILE_A)
    h = Harness(amf)
    timer = _Timed(amf)
    gnb = h.setup(1, 1, cag_ids=(CAG,))
    kb, ob = bytes.fromhex(k), bytes.fromhex(opc)

    def make_ue(i: int) -> ScriptedUe:
        return ScriptedUe(Supi.imsi(MCC, MNC, f"{FIRST_MSIN + i:010d}"), kb, ob, scheme=PROFILE_A,
                          hn_pub=pub, key_id=kid_a)

    # warm-up (codec caches, imports) outside the measurement
    for i in range(first, first + 20):
        h.register(make_ue(i), gnb)
    h.clear()
    timer.seconds = 0.0
    if measure_memory:
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
    ues = []
    accepted = 0
    t0 = time.perf_counter()
    for i in range(first + 20, first + 20 + count):
        ue = make_ue(i)
        h.register(ue, gnb)
        accepted += ue.registered
        if len(ues) < sessions:
            ues.append(ue)
        if len(h.sent) > 2000:
            h.clear()
    wall = time.perf_counter() - t0
    core_s = timer.seconds
    h.clear()
    mem_per_ue = None
    if measure_memory:
        gnb.ues.clear()
        keep = ues
        gc.collect()
        mem_per_ue = (tracemalloc.get_traced_memory()[0] - base) / count
        tracemalloc.stop()
        del keep
    result = {"pointer": pointer, "count": count, "accepted": accepted, "core_s": core_s, "wall_s": wall,
              "mem_per_ue": mem_per_ue, "t_start": t0, "t_end": t0 + wall}
    if sessions:
        result.update(asyncio.run(_sessions(h, amf, gnb, ues[:sessions], timer)))
    store.close()
    return result


async def _sessions(h, amf, gnb, ues, timer) -> dict:
    from testbed.core.smf import LocalN4, Smf, SmfConfig
    from testbed.core.upf.sessions import Upf

    upf = Upf("127.0.0.3", "10.45.0.0/16")
    smf = Smf(SmfConfig(smf_n4_address=("127.0.0.2", 8805), upf_n4_address=("127.0.0.3", 8805)),
              LocalN4(upf, src=("127.0.0.2", 8805)))
    await smf.start()
    h.clear()
    core0 = timer.seconds
    smf_s = 0.0
    done = 0
    t0 = time.perf_counter()
    for ue in ues:
        req = nas.PduSessionEstablishmentRequest(pdu_session_id=1, pti=1, pdu_session_type=nas.PduSessionType.IPV4)
        gnb.uplink(ue, ue.ul_nas_transport(req))
        while h.smf:
            o = h.smf.pop(0)
            t = time.perf_counter()
            if isinstance(o, SmfCreate):
                reply = await smf.create(o.request)
                smf_s += time.perf_counter() - t
                h.feed(amf.smf_reply(o.amf_ue_ngap_id, reply))
            elif isinstance(o, SmfN2Response):
                reply = await smf.n2_setup_response(o.supi, o.pdu_session_id, o.transfer)
                smf_s += time.perf_counter() - t
                done += reply.kind == "setup"
    wall = time.perf_counter() - t0
    return {"sessions": done, "session_core_s": (timer.seconds - core0) + smf_s, "session_smf_s": smf_s,
            "session_wall_s": wall}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=2000, help="registrations per worker")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--subscribers", type=int, default=10_000)
    ap.add_argument("--sessions", type=int, default=200, help="PDU sessions (worker 0)")
    a = ap.parse_args()
    if a.count * a.workers + 20 * a.workers > a.subscribers:
        a.subscribers = a.count * a.workers + 20 * a.workers
    k, opc = os.urandom(16).hex(), os.urandom(16).hex()
    with tempfile.TemporaryDirectory(prefix="nrfemto-bench-") as tmp:
        db = Path(tmp) / "udr.sqlite"
        _core(db, 0, a.subscribers, k, opc)[0].close()  # the store with all subscribers, loaded once
        print(f"subscribers in the UDR: {a.subscribers}")
        # 1. one worker: core time per registration, memory, sessions
        r = worker((str(db), 0, 0, a.count, a.sessions, False, k, opc, a.subscribers))
        assert r["accepted"] == a.count, r
        print(f"core registrations/s (1 AMF process, core CPU time only): {r['count'] / r['core_s']:.0f}")
        print(f"end-to-end registrations/s (1 process incl. simulated UEs/gNB): {r['count'] / r['wall_s']:.0f}")
        m = worker((str(db), 0, 0, min(a.count, 500), 0, True, k, opc, a.subscribers))
        print(f"memory per registered UE (core, tracemalloc over {m['count']} UEs): {m['mem_per_ue'] / 1024:.1f} KiB")
        if a.sessions:
            print(f"PDU sessions/s (AMF+SMF+PFCP+UPF, core time): {r['sessions'] / r['session_core_s']:.0f} "
                  f"(SMF+UPF share {r['session_smf_s'] / r['session_core_s']:.0%})")
        # 2. an AMF set: N workers in parallel, disjoint subscribers, one UDR file
        if a.workers > 1:
            jobs = [(str(db), w + 1, a.count + 20 + w * (a.count + 20), a.count, 0, False, k, opc, a.subscribers)
                    for w in range(a.workers)]
            ctx = mp.get_context("spawn")
            with ctx.Pool(a.workers) as pool:
                rs = pool.map(worker, jobs)
            assert all(x["accepted"] == a.count for x in rs), rs
            core = sum(x["count"] / x["core_s"] for x in rs)
            span = max(x["t_end"] for x in rs) - min(x["t_start"] for x in rs)
            total = sum(x["count"] for x in rs)
            print(f"core registrations/s ({a.workers} AMF processes, core CPU time only, sum): {core:.0f}")
            print(f"end-to-end registrations/s ({a.workers} processes incl. simulated UEs/gNB, wall): "
                  f"{total / span:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
