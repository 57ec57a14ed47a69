"""Cost of the UE side of a registration (CPU time inside UeNas only, real core on the other side).

Prints the figure (run with ``-s``); the bound is loose (a loaded 2-core CI machine) and is there
to catch a regression to the pycrate path (~2.5 ms per registration before the UE codec)."""

from __future__ import annotations

import time

from testbed.ue.nas import codec

from .core_bridge import CAG_FEMTO, RANGE_FIRST, standard_core

N = 200
BOUND_US = 4000


def test_ue_side_cost_per_registration(tmp_path) -> None:
    core = standard_core(tmp_path)
    g = core.gnb()
    ues = [core.ue(f"imsi-00101{RANGE_FIRST + i:010d}", g, usim={"allowed_cag_ids": {CAG_FEMTO}})
           for i in range(N + 10)]
    for ue in ues[:10]:  # warm-up: imports, caches
        core.register(ue)
    spent = [0.0]

    def timed(f):
        def w(*a, **k):
            t = time.thread_time()
            try:
                return f(*a, **k)
            finally:
                spent[0] += time.thread_time() - t
        return w

    for ue in ues[10:]:
        ue.nas.register = timed(ue.nas.register)  # type: ignore[method-assign]
        ue.nas.nas_received = timed(ue.nas.nas_received)  # type: ignore[method-assign]
    codec.STATS.clear()
    for ue in ues[10:]:
        core.register(ue)
        g.ues.clear()
    assert all(ue.nas.registered for ue in ues)
    us = spent[0] / N * 1e6
    print(f"\nUE side: {us:.0f} us CPU per registration (SUCI Profile A, 5G-AKA, SMC, accept; {N} UEs)")
    assert not [k for k in codec.STATS if k[1] == "fallback"]
    assert us < BOUND_US
    core.close()
