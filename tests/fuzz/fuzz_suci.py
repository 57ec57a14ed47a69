"""Fuzz target: the 5GS mobile identity decoder (SUCI, 5G-GUTI, 5G-S-TMSI, IMEI/IMEISV;
TS 24.501 9.11.3.4) and the SUCI string / NAI parsers.

Only :class:`testbed.errors.DecodeError` is an acceptable failure. Whatever decodes
must re-encode to something that decodes to the same value.
"""

from __future__ import annotations

import sys

from testbed.crypto.identity import decode_5gs_mobile_identity
from testbed.crypto.suci import Suci
from testbed.errors import DecodeError


def test_one_input(data: bytes) -> None:
    try:
        ident = decode_5gs_mobile_identity(data)
    except DecodeError:
        ident = None
    else:
        if ident is not None:
            again = decode_5gs_mobile_identity(ident.to_nas_bytes())
            assert again == ident, (data, ident, again)
            if isinstance(ident, Suci):
                # the string form is ambiguous only for an NAI null-scheme username with '-'
                if not (ident.supi_format == 1 and ident.scheme == 0 and b"-" in ident.output):
                    assert Suci.from_string(ident.to_string()) == ident, ident
                mnc_digits = len(ident.mnc) if ident.mnc else None
                assert Suci.from_nai(ident.to_nai(), mnc_digits) == ident, ident

    text = data.decode("utf-8", "replace")
    for parse in (Suci.from_string, Suci.from_nai):
        try:
            suci = parse(text)
        except DecodeError:
            continue
        assert Suci.from_nas_bytes(suci.to_nas_bytes()) == suci, (text, suci)


if __name__ == "__main__":
    import atheris

    atheris.instrument_all()  # coverage feedback for the already imported decoder modules
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
