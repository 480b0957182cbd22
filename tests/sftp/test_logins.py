"""Who gets in: the panel's username form with the account password, an API key or a registered
public key; the contract's form (the server's id) with a JWT or an API key. Who does not: wrong
secrets, wrong or other people's servers, deactivated accounts, members without file.read,
suspended servers; and everyone, at once, after too many failures."""

import io
import time

import paramiko
import pytest

from accounts.apikeys import apikey_create, apikey_revoke
from accounts.models import SSHKey
from accounts.sshkeys import ssh_key_add
from nodes.client import generate_keypair
from servers.lifecycle.suspension import server_suspend
from servers.models import ServerMember
from tests.fixtures import tokens_for
from tests.sftp.conftest import another_server, sftp_name

pytestmark = pytest.mark.django_db(transaction=True)


def refused(gateway, username, **credentials) -> bool:
    try:
        gateway.sftp(username, **credentials)
    except paramiko.AuthenticationException:
        return True
    return False


def keypair():
    pem, line = generate_keypair()
    return paramiko.Ed25519Key.from_private_key(io.StringIO(pem)), line


def test_every_login_form(gateway, files_server, customer):
    server = files_server()
    name = sftp_name(customer, server)
    assert gateway.sftp(name).listdir("/") == []
    assert (
        gateway.sftp(name.upper().replace(str(server.pk)[:8].upper(), str(server.pk)[:8])).listdir("/") == []
    )
    _, key = apikey_create(user=customer, name="sftp")
    assert gateway.sftp(name, password=key).listdir("/") == []
    assert gateway.sftp(str(server.pk), password=key).listdir("/") == []
    assert gateway.sftp(str(server.pk), password=tokens_for(customer)["token"]).listdir("/") == []
    private, line = keypair()
    ssh_key_add(user=customer, name="laptop", public_key=line + " me@laptop")
    assert gateway.sftp(name, pkey=private).listdir("/") == []
    assert SSHKey.objects.get(user=customer).last_used_at is not None


def test_wrong_secrets_servers_and_people_are_refused(gateway, files_server, customer, stranger):
    server = files_server()
    theirs = another_server(server, stranger)
    name = sftp_name(customer, server)
    assert refused(gateway, name, password="wrong password")
    assert refused(gateway, f"{customer.username}.00000000")
    assert refused(gateway, f"{customer.username}.{str(theirs.pk)[:8]}")  # the stranger's server
    assert refused(gateway, sftp_name(stranger, server))  # their password, someone else's server
    assert refused(gateway, str(server.pk))  # the id form has no account: a password cannot do
    assert refused(gateway, str(server.pk), password=tokens_for(stranger)["token"])
    assert refused(gateway, name, password=tokens_for(stranger)["token"])  # not the named account
    assert refused(gateway, str(server.pk), password="eyJ.not.atoken")
    _, key = apikey_create(user=customer, name="narrow", permissions=["server.read"])
    assert refused(gateway, name, password=key)  # the key's scope has no file.read
    _, key = apikey_create(user=customer, name="elsewhere", allowed_ips=["203.0.113.0/24"])
    assert refused(gateway, name, password=key)
    revoked, key = apikey_create(user=customer, name="revoked")
    apikey_revoke(key=revoked)
    assert refused(gateway, name, password=key)
    private, _ = keypair()  # never registered
    assert refused(gateway, name, pkey=private)
    other, line = keypair()
    ssh_key_add(user=stranger, name="theirs", public_key=line)
    assert refused(gateway, name, pkey=other)  # the stranger's key is not the customer's
    assert refused(gateway, "no-such-form")


def test_deactivated_reader_less_and_suspended_are_refused(gateway, files_server, customer, make_user, admin):
    server = files_server()
    member = make_user()
    ServerMember.objects.create(server=server, user=member, permissions=["server.read", "file.write"])
    assert refused(gateway, sftp_name(member, server))  # no file.read
    ServerMember.objects.filter(user=member).update(permissions=["file.read"])
    assert gateway.sftp(sftp_name(member, server)).listdir("/") == []
    member.is_active = False
    member.save()
    assert refused(gateway, sftp_name(member, server))
    server_suspend(server=server, actor=admin)
    assert refused(gateway, sftp_name(customer, server))


def test_too_many_failures_lock_the_account_and_the_address(
    gateway, files_server, customer, make_user, settings
):
    settings.SFTP_LOGIN_ATTEMPTS_PER_ACCOUNT = 3
    settings.SFTP_LOGIN_ATTEMPTS_PER_ADDRESS = 6
    server = files_server()
    for _ in range(3):
        assert refused(gateway, sftp_name(customer, server), password="guess")
    started = time.monotonic()
    assert refused(gateway, sftp_name(customer, server))  # the right password, now refused unchecked
    assert time.monotonic() - started < 2
    other = make_user()
    theirs = another_server(server, other)
    assert gateway.sftp(sftp_name(other, theirs)).listdir("/") == []  # another account, same address
    for _ in range(3):
        assert refused(gateway, sftp_name(other, theirs), password="guess")
    third = make_user()
    assert refused(gateway, sftp_name(third, another_server(server, third)))  # the address is locked too


def test_two_factor_accounts_log_in_with_their_password_unless_setup_is_owed(
    gateway, files_server, customer, roles
):
    from django.utils import timezone

    from accounts.models import TwoFactorDevice

    server = files_server()
    TwoFactorDevice.objects.create(user=customer, secret="unused", confirmed_at=timezone.now())
    assert gateway.sftp(sftp_name(customer, server)).listdir("/") == []  # as Pterodactyl: no second factor
    TwoFactorDevice.objects.filter(user=customer).delete()
    roles["Customer"].requires_two_factor = True
    roles["Customer"].save()
    assert refused(gateway, sftp_name(customer, server))  # owes the setup its role requires


def test_a_password_that_looks_like_a_token_or_a_key_still_works(gateway, files_server, customer):
    server = files_server()
    for password in ("looks.like.ajwt", "hth_looks_like_a_key"):
        customer.set_password(password)
        customer.save()
        assert gateway.sftp(sftp_name(customer, server), password=password).listdir("/") == []
