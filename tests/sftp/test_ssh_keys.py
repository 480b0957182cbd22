"""Registering SSH keys for SFTP: the API (/api/account/ssh-keys), the account page and the admin.
A key is validated (type, base64, RSA size), stored normalized with its SHA256 fingerprint (as
ssh-keygen prints it), unique per user; only its owner sees or removes it."""

import subprocess

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from accounts.models import AuditLog, SSHKey
from nodes.client import generate_keypair

pytestmark = pytest.mark.django_db


def rsa_line(bits: int) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )


def test_add_list_and_delete_through_the_api(client_for, customer, stranger, tmp_path):
    api = client_for(customer)
    _, line = generate_keypair()
    answer = api.post("/api/account/ssh-keys", {"name": "laptop", "publicKey": f"  {line}  "}, format="json")
    assert answer.status_code == 201, answer.content
    key = answer.json()["data"]
    (tmp_path / "key.pub").write_text(line + "\n")
    keygen = subprocess.run(["ssh-keygen", "-lf", str(tmp_path / "key.pub")], capture_output=True, text=True)
    assert key["fingerprint"] == keygen.stdout.split()[1]
    assert key["publicKey"] == " ".join(line.split()[:2])  # the comment dropped
    assert [k["id"] for k in api.get("/api/account/ssh-keys").json()["data"]] == [key["id"]]
    again = api.post("/api/account/ssh-keys", {"name": "again", "publicKey": line}, format="json")
    assert again.status_code == 400 and "already registered" in again.content.decode()
    theirs = client_for(stranger)
    assert theirs.get("/api/account/ssh-keys").json()["data"] == []
    assert theirs.delete(f"/api/account/ssh-keys/{key['id']}").status_code == 404
    assert (
        theirs.post("/api/account/ssh-keys", {"name": "same", "publicKey": line}, format="json").status_code
        == 201
    )
    assert api.delete(f"/api/account/ssh-keys/{key['id']}").status_code == 200
    assert not SSHKey.objects.filter(user=customer).exists()
    assert set(AuditLog.objects.values_list("action", flat=True)) >= {"sshkey.add", "sshkey.delete"}


@pytest.mark.parametrize(
    ("public_key", "says"),
    [
        ("", "This field may not be blank"),
        ("ssh-ed25519", "Paste one OpenSSH public key line"),
        ("ssh-dss AAAAB3NzaC1kc3MAAACBAP", "is not accepted"),
        ("ssh-ed25519 not-base64!!", "not a valid OpenSSH public key"),
        ("ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQABAAABAQ==", "not a valid OpenSSH public key"),
        ("RSA1024", "at least 2048 bits"),
    ],
)
def test_bad_keys_are_refused_saying_why(client_for, customer, public_key, says):
    if public_key == "RSA1024":
        public_key = rsa_line(1024)
    answer = client_for(customer).post(
        "/api/account/ssh-keys", {"name": "k", "publicKey": public_key}, format="json"
    )
    assert answer.status_code == 400
    assert says in answer.content.decode()
    assert not SSHKey.objects.exists()


def test_the_account_page_adds_and_removes_keys(signed_in, customer, stranger):
    page = signed_in(customer)
    assert page.get("/account/ssh-keys").status_code == 200
    _, line = generate_keypair()
    assert page.post("/account/ssh-keys", {"name": "desk", "public_key": rsa_line(3072)}).status_code == 302
    assert page.post("/account/ssh-keys", {"name": "laptop", "public_key": line}).status_code == 302
    shown = page.get("/account/ssh-keys").content.decode()
    assert "laptop" in shown and "desk" in shown and "SHA256:" in shown
    refused = page.post("/account/ssh-keys", {"name": "bad", "public_key": "nonsense"})
    assert refused.status_code == 400 and "Paste one OpenSSH public key line" in refused.content.decode()
    key = SSHKey.objects.get(user=customer, name="laptop")
    other = signed_in(stranger)
    other.post("/account/ssh-keys", {"delete": str(key.pk)})  # not theirs: nothing happens
    assert SSHKey.objects.filter(pk=key.pk).exists()
    assert page.post("/account/ssh-keys", {"delete": str(key.pk)}).status_code == 302
    assert list(SSHKey.objects.filter(user=customer).values_list("name", flat=True)) == ["desk"]
    assert page.post("/account/ssh-keys", {"delete": "not-a-uuid"}).status_code == 302


def test_staff_see_and_remove_keys_in_the_admin(signed_in, admin, customer):
    from accounts.sshkeys import ssh_key_add

    key = ssh_key_add(user=customer, name="laptop", public_key=generate_keypair()[1])
    page = signed_in(admin)
    assert key.fingerprint in page.get("/admin/accounts/sshkey/").content.decode()
    assert page.post(f"/admin/accounts/sshkey/{key.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not SSHKey.objects.exists()
