"""UPF of the built-in 5G core: PFCP N4 sessions, GTP-U N3 <-> TUN N6.

:class:`Upf` is the sans-I/O state machine; ``python -m testbed.core.upf`` runs it as a process
(:mod:`.process`: UDP 8805 PFCP, UDP 2152 GTP-U, a TUN device, control socket, event stream).
"""

from .sessions import Upf, UpfSession

__all__ = ["Upf", "UpfSession"]
