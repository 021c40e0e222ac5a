"""SharePoint's request limits in the emulator: at most 100 requests in a `$batch`, at most
1 MiB in a REST body (a whole `$batch` included), and the documented 262,144,000 bytes for a
file upload. Each refusal comes before anything in the request runs."""

from __future__ import annotations

import uuid

from emulator_spo_support import CLAIMS, PATTI, Spo, odata_error

from maforge.connectors.spo.batch import BatchPart, build_batch, parse_batch

SET_SINGLE = "/_api/SP.UserProfiles.PeopleManager/SetSingleValueProfileProperty"
TOO_MUCH = "The maximum number of bytes allowed to be read from the stream has been exceeded. After the last read operation, a total of {size} bytes has been read from the stream; however a maximum of {limit} bytes is allowed."


def _batch(spo: Spo, parts: list[BatchPart]):
    boundary = f"batch_{uuid.uuid4()}"
    body = build_batch(boundary, spo.emulator.admin_url, parts)
    answer = spo.post("/_api/$batch", data=body, headers={"Content-Type": f"multipart/mixed; boundary={boundary}"})
    return answer, body


def _writes(emulator, count: int, value: str) -> list[BatchPart]:
    url = emulator.admin_url + SET_SINGLE
    return [BatchPart("POST", url, {"accountName": CLAIMS + PATTI, "propertyName": "AboutMe", "propertyValue": f"{n} {value}"}) for n in range(count)]


def test_a_batch_of_more_than_100_requests_is_refused_whole(emulator_factory):
    emulator = emulator_factory(throttle="none")
    spo = Spo(emulator)
    reads = [BatchPart("GET", f"{emulator.admin_url}/_api/SP.UserProfiles.PeopleManager/GetMyProperties") for _ in range(50)]
    answer, _ = _batch(spo, reads + _writes(emulator, 51, "x"))
    assert answer.status_code == 400
    assert odata_error(answer) == ("-1, Microsoft.SharePoint.Client.InvalidClientQueryException", "The batch holds 101 requests; a batch may hold at most 100.")
    assert emulator.state.writes == []  # nothing in it ran
    answer, _ = _batch(spo, reads + _writes(emulator, 50, "x"))
    assert answer.status_code == 200 and len(parse_batch(answer.content, answer.headers["Content-Type"])) == 100


def test_a_request_body_over_one_mebibyte_is_refused_before_anything_runs(emulator_factory):
    strict = emulator_factory(throttle="none")
    spo = Spo(strict)
    answer, body = _batch(spo, _writes(strict, 100, "Å" * 6000))  # about 1.2 MB
    assert len(body) > 1_048_576
    assert answer.status_code == 400
    assert odata_error(answer) == ("-1, Microsoft.SharePoint.Client.InvalidClientQueryException", TOO_MUCH.format(size=len(body), limit=1_048_576))
    single = spo.set_single(CLAIMS + PATTI, "AboutMe", "y" * 1_100_000)
    assert single.status_code == 400 and odata_error(single)[1].startswith("The maximum number of bytes allowed to be read from the stream has been exceeded.")
    assert strict.state.writes == []
    # One report saw 2 MiB for a $batch: --max-request-bytes lets the emulator take it.
    roomy = emulator_factory(throttle="none", max_request_bytes=2_097_152)
    answer, _ = _batch(Spo(roomy), _writes(roomy, 100, "Å" * 6000))
    assert answer.status_code == 200 and len(roomy.state.writes) == 100


def test_file_uploads_are_limited_to_the_documented_262144000_bytes(emulator_factory):
    from maforge.connectors.emulator.limits import too_large
    from maforge.connectors.emulator.server import CaseInsensitiveHeaders, Request

    emulator = emulator_factory(throttle="none")
    spo = Spo(emulator)
    add = "/_api/web/GetFolderByServerRelativeUrl('/Shared Documents')/Files/add(url='big.json',overwrite=true)"
    uploaded = spo.post(add, data=b"{" + b" " * 3_000_000 + b"}", admin=False)  # a raw stream: 1 MiB does not apply
    assert uploaded.status_code == 200 and uploaded.json()["Length"] == "3000002"
    path = "/spo/contoso/_api/web/GetFolderByServerRelativeUrl('/Shared Documents')/Files/add(url='huge.json',overwrite=true)"
    at_limit = Request("POST", path, path, path, {}, CaseInsensitiveHeaders(), bytes(262_144_000), emulator)
    assert too_large(at_limit) is None
    over = Request("POST", path, path, path, {}, CaseInsensitiveHeaders(), bytes(262_144_001), emulator)
    refused = too_large(over)
    assert refused is not None and refused.status == 400
    assert b"The request message is too big. The server does not allow messages larger than 262144000 bytes." in refused.body
