"""The workspace's blob storage: Azurite, Microsoft's storage emulator, reached under the names Azure gives
storage accounts, so that the SDK's own upload code runs unchanged.

azure-ai-ml builds a datastore's URL as https://{account}.blob.core.windows.net (from the cloud's metadata,
not from anything a test can set) with a storage client of its own, outside the transport MLClient is given.
Those names cannot resolve here, so the SDK reaches Azurite the way any HTTP client reaches a host behind a
proxy: HTTPS_PROXY names a CONNECT proxy on loopback that tunnels *.blob.core.windows.net:443 to Azurite
(and refuses every other host), Azurite serves TLS with a certificate for *.blob.core.windows.net signed by
a test CA, and REQUESTS_CA_BUNDLE trusts that CA. Azurite reads the account from the host name
(production-style URLs). Only the process's environment changes; the SDK is not patched.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import os
import select
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
AZURITE = ROOT / ".venv" / "node" / "node_modules" / ".bin" / "azurite-blob"
BLOB_SUFFIX = ".blob.core.windows.net"


def _certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A test CA and a server certificate for *.blob.core.windows.net (and 127.0.0.1) signed by it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    valid = dict(not_valid_before=now - datetime.timedelta(days=1), not_valid_after=now + datetime.timedelta(days=7))
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mlops-actions test CA (Azure ML emulator)")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(valid["not_valid_before"])
          .not_valid_after(valid["not_valid_after"])
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    server = (x509.CertificateBuilder()
              .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "*" + BLOB_SUFFIX)]))
              .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(valid["not_valid_before"]).not_valid_after(valid["not_valid_after"])
              .add_extension(x509.SubjectAlternativeName([x509.DNSName("*" + BLOB_SUFFIX),
                                                          x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                             critical=False)
              .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
              .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
              .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
              .sign(ca_key, hashes.SHA256()))
    paths = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class TunnelProxy:
    """An HTTP CONNECT proxy on loopback that tunnels *.blob.core.windows.net:443 to Azurite and refuses
    everything else (403), so nothing leaves the machine."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.tunnelled: list[str] = []
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=128)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with client:
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 8192:
                chunk = client.recv(4096)
                if not chunk:
                    return
                head += chunk
            method, target, *_ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
            host, _, port = target.rpartition(":")
            if method != "CONNECT" or port != "443" or not host.endswith(BLOB_SUFFIX):
                client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                return
            self.tunnelled.append(host)
            with socket.create_connection(("127.0.0.1", self.target_port)) as upstream:
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                _pipe(client, upstream)

    def close(self) -> None:
        self.listener.close()


def _pipe(a: socket.socket, b: socket.socket) -> None:
    while True:
        ready, _, _ = select.select([a, b], [], [], 60)
        if not ready:
            return
        for source in ready:
            data = source.recv(65536)
            if not data:
                return
            (b if source is a else a).sendall(data)


class Azurite:
    """Azurite's blob service on 127.0.0.1 over TLS, its data in `folder`, one storage account."""

    account = "wsemulatorstorage"  # 3-24 lowercase letters and digits, as Azure names storage accounts

    def __init__(self, folder: Path):
        if not AZURITE.exists():
            raise RuntimeError(f"Azurite is not installed at {AZURITE}. Fix: run scripts/bootstrap (it installs "
                               "Azurite with npm into .venv/node).")
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.key = base64.b64encode(os.urandom(32)).decode()
        self.ca, cert, key = _certificates(folder)
        self.port = free_port()
        self.log = folder / "azurite.log"
        environment = {**os.environ, "AZURITE_ACCOUNTS": f"{self.account}:{self.key}"}
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [str(AZURITE), "--blobHost", "127.0.0.1", "--blobPort", str(self.port), "--location",
                 str(folder / "data"), "--silent", "--skipApiVersionCheck", "--cert", str(cert), "--key", str(key)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=environment,
                start_new_session=True)
        self._wait_until_listening()
        self.proxy = TunnelProxy(self.port)

    def _wait_until_listening(self, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Azurite exited with {self.process.returncode}: {self.log.read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"Azurite did not listen on 127.0.0.1:{self.port} within {seconds} s")

    @property
    def account_url(self) -> str:
        return f"https://{self.account}{BLOB_SUFFIX}"

    def environment(self) -> dict[str, str]:
        """What a process needs in its environment for the SDK's storage clients to reach Azurite."""
        return {"HTTPS_PROXY": f"http://127.0.0.1:{self.proxy.port}", "NO_PROXY": "127.0.0.1,localhost",
                "REQUESTS_CA_BUNDLE": str(self.ca)}

    def service(self):
        """A client of the account for the emulator itself (path-style, straight to Azurite)."""
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient(f"https://127.0.0.1:{self.port}/{self.account}", connection_verify=str(self.ca),
                                 credential={"account_name": self.account, "account_key": self.key})

    def container_sas(self, container: str, hours: float = 1, write: bool = True) -> str:
        from azure.storage.blob import ContainerSasPermissions, generate_container_sas

        return generate_container_sas(
            self.account, container, account_key=self.key,
            permission=ContainerSasPermissions(read=True, write=write, add=write, create=write, list=True),
            expiry=datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=hours))

    def stop(self) -> None:
        self.proxy.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        shutil.rmtree(self.folder / "data", ignore_errors=True)
