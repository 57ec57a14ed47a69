"""Built-in 5G core (the embedded default): UDR, UDM, AUSF, AMF, SMF, UPF.

Network functions are sans-I/O objects (they take messages/events and return
messages/events); :mod:`testbed.core.process` runs them in a node with asyncio
adapters (NGAP over SCTP, PFCP/GTP-U over UDP, control socket, event stream).
"""
