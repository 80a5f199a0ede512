"""SigV4 verification for the fake Bedrock endpoints.

The signature is recomputed with botocore's own ``SigV4Auth`` over what was actually received: method, the
``Host`` header, the raw (still percent-encoded) path, the query string, exactly the headers listed in
``SignedHeaders`` and the body bytes. A proxy that re-serializes the body, rewrites the path, drops a signed header
or changes ``Host`` to something else than the host the client signed for fails this check, like it would on AWS.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

_ALGORITHM = "AWS4-HMAC-SHA256"


@dataclass(frozen=True, slots=True)
class SigV4Result:
    ok: bool
    status: int = 200
    error_type: str = ""
    message: str = ""


_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)


def _parse_authorization(value: str) -> dict[str, str] | None:
    if not value.startswith(_ALGORITHM + " "):
        return None
    fields: dict[str, str] = {}
    for part in value[len(_ALGORITHM) + 1 :].split(","):
        key, sep, val = part.strip().partition("=")
        if not sep:
            return None
        fields[key] = val
    if not {"Credential", "SignedHeaders", "Signature"} <= fields.keys():
        return None
    return fields


def verify_sigv4(
    *,
    method: str,
    raw_path: str,
    query: str,
    headers: list[tuple[str, str]],
    body: bytes,
    access_key: str,
    secret_key: str,
) -> SigV4Result:
    """Check a SigV4-signed request. ``headers`` are (lower-case name, value) pairs as received."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    by_name: dict[str, list[str]] = {}
    for name, value in headers:
        by_name.setdefault(name, []).append(value)

    auth_values = by_name.get("authorization")
    if not auth_values:
        return SigV4Result(False, 403, "MissingAuthenticationTokenException", "Missing Authentication Token")
    fields = _parse_authorization(auth_values[0])
    if fields is None:
        return SigV4Result(
            False,
            403,
            "IncompleteSignatureException",
            "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters.",
        )
    scope = fields["Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request":
        return SigV4Result(False, 403, "IncompleteSignatureException", "Invalid credential scope.")
    key_id, date, region, service, _ = scope
    if key_id != access_key:
        return SigV4Result(
            False,
            403,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        )
    amz_date = (by_name.get("x-amz-date") or [""])[0]
    if not amz_date.startswith(date):
        return SigV4Result(False, 403, "InvalidSignatureException", _MISMATCH)

    signed = [h for h in fields["SignedHeaders"].split(";") if h]
    if "host" not in signed:
        return SigV4Result(False, 403, "InvalidSignatureException", "'Host' must be a signed header.")
    sign_headers: list[tuple[str, str]] = []
    for name in signed:
        if name not in by_name:
            return SigV4Result(False, 403, "InvalidSignatureException", _MISMATCH)
        sign_headers.extend((name, v) for v in by_name[name])

    body_hash = hashlib.sha256(body).hexdigest()
    declared = by_name.get("x-amz-content-sha256")
    if declared and declared[0] not in (body_hash, "UNSIGNED-PAYLOAD"):
        return SigV4Result(
            False,
            400,
            "XAmzContentSHA256Mismatch",
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        )

    host = by_name["host"][0]
    url = f"http://{host}{raw_path}" + (f"?{query}" if query else "")
    request = AWSRequest(method=method, url=url, data=body)
    for name, value in sign_headers:
        request.headers.add_header(name, value)
    request.context["timestamp"] = amz_date
    signer = SigV4Auth(Credentials(access_key, secret_key), service, region)
    # A declared x-amz-content-sha256 was checked against the body above; botocore uses it when present.
    canonical = signer.canonical_request(request)
    string_to_sign = signer.string_to_sign(request, canonical)
    expected = signer.signature(string_to_sign, request)
    if not hmac.compare_digest(expected, fields["Signature"]):
        return SigV4Result(False, 403, "InvalidSignatureException", _MISMATCH)
    return SigV4Result(True)
