"""A coverage-guided fuzz run (atheris, libFuzzer) of the binary frame codec, and of the JSON
codec with its nesting scan: seconds in CI, as long as you like by hand::

    .venv/bin/python -m tests.unit.test_fuzz_codecs -max_total_time=600

Each input is decoded as sent and again with a valid header and CRC, so the fuzzer gets past
the checksum to the field layout. Anything but a sound Decoded or a DecodeError is a crash,
and libFuzzer saves the input that caused it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
T0 = 1767225600.0


def test_a_short_fuzz_run_finds_no_crash(tmp_path: Path) -> None:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.unit.test_fuzz_codecs",
            "-runs=12000",
            "-max_total_time=5",
            "-seed=7",  # the same inputs each CI run; a failure is reproducible
            f"-artifact_prefix={tmp_path}/",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, f"crash input saved in {tmp_path}:\n{run.stderr[-4000:]}"
    assert "Done" in run.stderr, run.stderr[-2000:]  # libFuzzer finished its runs


def main() -> None:
    import atheris

    with atheris.instrument_imports(include=["gateway"]):
        from gateway.codecs import DecodeError, build_codec
        from gateway.codecs.binary_struct import crc16_modbus
        from gateway.codecs.depth import nesting_depth, nesting_exceeds
        from gateway.profiles import BinaryStructCodec, load_profiles
    from tests.unit.test_property_codecs import assert_sound

    profiles = load_profiles(REPO / "device_profiles")
    binary = profiles["smoke-detector-nb"]
    json_map = profiles["electrical-fire-monitor"]
    spec = binary.codec
    assert isinstance(spec, BinaryStructCodec) and spec.checksum is not None
    magic, at = bytes.fromhex(spec.magic or ""), spec.checksum.offset
    codecs = {binary.name: build_codec(binary), json_map.name: build_codec(json_map)}

    def framed(data: bytes) -> bytes:
        body = (magic + data)[:at].ljust(at, b"\0")
        return body + crc16_modbus(body).to_bytes(2, "little") + data[at : spec.length - at - 2]

    def one_input(data: bytes) -> None:
        for profile, payload in ((binary, data), (binary, framed(data)), (json_map, data)):
            try:
                decoded = codecs[profile.name].decode(payload, T0)
            except DecodeError:
                continue
            assert_sound(profile, decoded, T0)
        assert nesting_exceeds(data, 3) == (nesting_depth(data) > 3)

    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
