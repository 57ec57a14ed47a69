"""Sample NR RRC messages for the tests, one or more per modelled message type."""

from __future__ import annotations

from testbed.protocols import rrc

# UERANSIM's initial Registration Request (aligungr/UERANSIM mts/decoder.py)
REGISTRATION_REQUEST = bytes.fromhex("7e004171000d010011000000000099898877f71001002e04804080402f020101")

PLMN = rrc.Plmn("001", "01")
PLMN3 = rrc.Plmn("310", "410")

SAMPLES: list[rrc.RrcMessage] = [
    rrc.Mib(),
    rrc.Mib(cell_barred=True, intra_freq_reselection=False, system_frame_number=63, scs_common="scs30or120",
            ssb_subcarrier_offset=15, dmrs_type_a_position="pos3", coreset_zero=15, search_space_zero=15),
    rrc.Sib1.for_cell(PLMN, 1, 0x000000010),
    rrc.Sib1.for_cell(PLMN, 0xABCDEF, 0x123456789, cag_ids=(0x00001234, 0xFFFFFFFF), cag_only=True),
    rrc.Sib1((rrc.PlmnIdentityInfo((PLMN, rrc.Plmn("001", "001")), 7, 5, True),
              rrc.PlmnIdentityInfo((PLMN3,), None, 6)),
             False, (rrc.NpnIdentityInfo((rrc.PniNpn(PLMN, (1,), True), rrc.PniNpn(PLMN3, (2, 3))), 7, 5),), None),
    rrc.RRCSetupRequest(0x7FFFFFFFFF),
    rrc.RRCSetupRequest(0x1234, "mt-Access", identity_is_s_tmsi_part1=True),
    rrc.RRCSetup(0),
    rrc.RRCSetup(3),
    rrc.RRCReject(),
    rrc.RRCReject(16),
    rrc.RRCSetupComplete(REGISTRATION_REQUEST),
    rrc.RRCSetupComplete(REGISTRATION_REQUEST, 3, 12, rrc.RegisteredAmf(0xFFFFFF, PLMN), s_tmsi=0xFFFFFFFFFFFF),
    rrc.RRCSetupComplete(REGISTRATION_REQUEST, 1, 1, rrc.RegisteredAmf(0x010040), s_tmsi_part2=0x1FF),
    rrc.ULInformationTransfer(REGISTRATION_REQUEST),
    rrc.DLInformationTransfer(REGISTRATION_REQUEST),
    rrc.DLInformationTransfer(REGISTRATION_REQUEST, 2),
    rrc.RRCRelease(),
    rrc.RRCRelease(1),
    rrc.Paging(),
    rrc.Paging((0x000001000002, 0xFFFFFFFFFFFF)),
]

USER_DLT = {
    rrc.Channel.BCCH_BCH: "nr-rrc.bcch.bch",
    rrc.Channel.BCCH_DL_SCH: "nr-rrc.bcch.dl.sch",
    rrc.Channel.DL_CCCH: "nr-rrc.dl.ccch",
    rrc.Channel.DL_DCCH: "nr-rrc.dl.dcch",
    rrc.Channel.PCCH: "nr-rrc.pcch",
    rrc.Channel.UL_CCCH: "nr-rrc.ul.ccch",
    rrc.Channel.UL_DCCH: "nr-rrc.ul.dcch",
}
