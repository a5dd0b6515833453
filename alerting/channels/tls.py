"""The one verifying TLS context of the alert channels (web and email).

It trusts the system's CAs: the store the operator manages (update-ca-certificates
adds a company CA there, as curl and apt expect).  Read as a hashed directory,
OpenSSL loads only the CAs a handshake asks for; a whole bundle (certifi's, or
the system one as a single file) is ~1.4 MB of parsed certificates held for good.
SSL_CERT_FILE / SSL_CERT_DIR, when set, win as usual; without a hashed
directory the system bundle file is read whole; certifi's bundle is the
fallback for a host with no store at all (a bare container).  Made when a web
channel sends its first request (httpx takes its context when the client is
made) or email its first message, so a host that never alerts never pays for it.
"""

from __future__ import annotations

import functools
import os
import re
import ssl

# Hashed certificate directories (`c_rehash` links) of the system trust store:
# Debian/Ubuntu/Alpine, and RHEL/Rocky 8+.
SYSTEM_CA_DIRS = ("/etc/ssl/certs", "/etc/pki/ca-trust/extracted/pem/directory-hash")
_HASHED_NAME = re.compile(r"^[0-9a-f]{8}\.[0-9]+$")


@functools.cache
def verified_context() -> ssl.SSLContext:
    cert_file, cert_dir = os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")
    if cert_file or cert_dir:
        return ssl.create_default_context(cafile=cert_file or None, capath=cert_dir or None)
    for directory in SYSTEM_CA_DIRS:
        if _is_hashed_ca_dir(directory):
            return ssl.create_default_context(capath=directory)
    system_bundle = ssl.get_default_verify_paths().cafile
    if system_bundle and os.path.isfile(system_bundle):
        # Still the operator's store, parsed whole (RHEL without the hashed directory).
        return ssl.create_default_context(cafile=system_bundle)
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


def _is_hashed_ca_dir(directory: str) -> bool:
    try:
        with os.scandir(directory) as entries:
            return any(_HASHED_NAME.match(entry.name) for entry in entries)
    except OSError:
        return False
