"""core/castore.py: the trust store cut down to what a chain can reach gives the verdict the whole
store gives, for every kind of chain (the "would have said" of `tls -k` depends on it).

Each case replays a chain (core/tlsfacts.replay_verify, as `tls -k` does) to a context holding the
whole bundle and to one holding castore's cut, and wants the same (code, message) from both. The
bundle is made here (many CAs, the ones that matter among them), not read from the machine.
"""

from __future__ import annotations

import datetime
import ssl

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from netrepl.core import castore
from netrepl.core.tlsfacts import replay_verify

DAY = datetime.timedelta(days=1)


def der(pem: bytes) -> bytes:
    return ssl.PEM_cert_to_DER_cert(pem.decode())


def chain_of(leaf) -> list[bytes]:
    return [der(blob.bytes()) for blob in leaf.cert_chain_pems]


def replay_context(**load) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if any(load.values()):
        ctx.load_verify_locations(**load)
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def both(bundle: str, chain: list[bytes], name: str = "localhost"):
    """(whole-store verdict, cut-store verdict, certificates kept)."""
    cut = castore.bundle_subset(bundle, chain)
    assert cut is not None
    whole = replay_verify(chain, name, replay_context(cafile=bundle))
    kept = sum(1 for _, _, cert in castore._bundle(bundle) if cert in cut)
    return whole, replay_verify(chain, name, replay_context(cadata=cut)), kept


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Twenty unrelated CAs, a root with an intermediate, and the bundles made of them."""
    tmp = tmp_path_factory.mktemp("castore")
    others = [trustme.CA() for _ in range(20)]
    root = trustme.CA()
    middle = root.create_child_ca()

    def bundle(name, cas):
        path = tmp / name
        path.write_bytes(b"".join(b"# a comment line, as in some bundles\n" + ca.cert_pem.bytes() for ca in cas))
        return str(path)

    return {
        "root": root, "middle": middle, "others": others,
        "with_root": bundle("with_root.pem", others[:10] + [root] + others[10:]),
        "with_both": bundle("with_both.pem", others + [middle, root]),
        "without": bundle("without.pem", others),
    }


def test_a_chain_to_a_root_in_the_bundle_passes_and_keeps_only_that_root(world):
    leaf = world["root"].issue_cert("localhost")
    whole, cut, kept = both(world["with_root"], chain_of(leaf))
    assert whole is None and cut is None
    assert kept == 1


def test_an_unknown_ca_fails_alike(world):
    leaf = world["root"].issue_cert("localhost")
    whole, cut, kept = both(world["without"], chain_of(leaf))
    assert whole == cut and whole[0] == 20
    assert kept == 0


def test_self_signed_fails_alike(world):
    whole, cut, _ = both(world["without"], [der(trustme.CA().cert_pem.bytes())])
    assert whole == cut and whole[0] == 18


def test_expired_and_wrong_name_fail_alike(world):
    past = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
    expired = world["root"].issue_cert("localhost", not_before=past - 30 * DAY, not_after=past)
    whole, cut, _ = both(world["with_root"], chain_of(expired))
    assert whole == cut and whole[0] == 10
    whole, cut, _ = both(world["with_root"], chain_of(world["root"].issue_cert("other.test")))
    assert whole == cut and whole[0] == 62


def test_an_intermediate_found_in_the_bundle_brings_its_issuer(world):
    leaf = world["middle"].issue_cert("localhost")
    sent_alone = chain_of(leaf)[:1]  # the server forgot its intermediate: the store has it
    whole, cut, kept = both(world["with_both"], sent_alone)
    assert whole is None and cut is None
    assert kept == 2  # the intermediate, then its root, reached through the intermediate's issuer
    whole, cut, _ = both(world["with_root"], sent_alone)
    assert whole == cut and whole[0] == 20
    whole, cut, _ = both(world["with_root"], chain_of(leaf))  # leaf and intermediate sent
    assert whole is None and cut is None


def _name(cn_type, cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Netrepl Lab", cn_type),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn, cn_type)])


def test_names_equal_to_openssl_but_not_in_bytes_are_still_found(tmp_path):
    """The root says its name in UTF8String, the leaf names its issuer in PrintableString, other case
    and spaces: OpenSSL's canonical comparison calls them one name, so the cut must keep the root."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    subject = _name(x509.name._ASN1Type.UTF8String, "Netrepl  Test Root")
    root = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - DAY).not_valid_after(now + DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    issuer = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "netrepl lab",
                                           x509.name._ASN1Type.PrintableString),
                        x509.NameAttribute(NameOID.COMMON_NAME, " NETREPL TEST ROOT ",
                                           x509.name._ASN1Type.PrintableString)])
    leaf = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "leaf")]))
            .issuer_name(issuer).public_key(leaf_key.public_key()).serial_number(2)
            .not_valid_before(now - DAY).not_valid_after(now + DAY)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .sign(key, hashes.SHA256()))
    from cryptography.hazmat.primitives.serialization import Encoding

    assert root.subject.public_bytes() != leaf.issuer.public_bytes()
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(b"".join(ca.cert_pem.bytes() for ca in [trustme.CA() for _ in range(3)])
                       + root.public_bytes(Encoding.PEM))
    whole, cut, kept = both(str(bundle), [leaf.public_bytes(Encoding.DER)])
    assert whole is None and cut is None  # OpenSSL itself calls them one name
    assert kept == 1


@pytest.mark.parametrize("block", [b"TRUSTED CERTIFICATE", b"X509 CRL"])
def test_a_bundle_with_other_blocks_is_loaded_whole(tmp_path, block):
    path = tmp_path / "odd.pem"
    pem = trustme.CA().cert_pem.bytes()
    path.write_bytes(pem + pem.replace(b"CERTIFICATE", block))
    assert castore.bundle_subset(str(path), []) is None


def test_no_bundle_is_an_empty_store(tmp_path):
    assert castore.bundle_subset(None, []) == b""
    assert castore.bundle_subset(str(tmp_path / "missing.pem"), []) is None  # loaded whole: nothing


def test_the_cut_store_context_has_the_verifying_contexts_flags(world, monkeypatch):
    # The verifying `tls` uses create_default_context, whose verify flags depend on the Python
    # (3.13 adds PARTIAL_CHAIN and X509_STRICT): the replay's context must carry the same ones.
    # Simulated here by a create_default_context that adds X509_STRICT, as 3.13's does.
    from netrepl.core.tls import TlsSettings

    real = ssl.create_default_context

    def newer(*args, **kwargs):
        ctx = real(*args, **kwargs)
        ctx.verify_flags |= ssl.VERIFY_X509_STRICT
        return ctx

    monkeypatch.setattr(ssl, "create_default_context", newer)
    monkeypatch.setenv("SSL_CERT_FILE", world["with_root"])
    leaf = world["root"].issue_cert("localhost")
    ctx = TlsSettings().replay_context(chain_of(leaf))
    verifying = ssl.create_default_context()
    assert ctx.verify_flags == verifying.verify_flags
    assert ctx.verify_flags & ssl.VERIFY_X509_STRICT
    assert (ctx.verify_mode, ctx.check_hostname) == (verifying.verify_mode, verifying.check_hostname)
