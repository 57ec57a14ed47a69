"""The UE simulator: software USIM (:mod:`.usim`), the NAS layer (:mod:`.nas`, 5GMM + 5GSM, sans-I/O)
and the radio/RRC side (:mod:`.radio`, :mod:`.process`: many UEs per process).

Import what you need from the submodules (``from testbed.ue.usim import Usim``,
``from testbed.ue.nas import UeNas``): this package initialiser stays empty so that the radio
side and the NAS side load independently.
"""
