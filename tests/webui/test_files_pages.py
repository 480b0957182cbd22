"""The server page's Files tab as rendered: who gets it, which controls, and the SFTP login it shows."""

from tests.webui.test_pages import page_data


def files_tab(response) -> bool:
    return 'id="panel-files"' in response.content.decode()


def test_the_owner_gets_the_files_tab_with_every_control_and_the_sftp_login(signed_in, customer, make_server):
    server = make_server(customer)
    response = signed_in(customer).get(f"/servers/{server.pk}")
    html = response.content.decode()
    assert files_tab(response)
    for control in ('id="files-upload-input"', 'id="files-new-folder"', 'id="files-delete-selected"'):
        assert control in html, control
    assert "codemirror.js" in html and "files.js" in html
    data = page_data(response)
    assert data["files"]["may"] == {"read": True, "write": True, "delete": True}
    assert data["files"]["sftp"] == {
        "host": "testserver",
        "port": 2022,
        "username": f"customer.{str(server.pk)[:8]}",
    }
    assert data["files"]["editorMaxBytes"] == 4 * 1024 * 1024
    assert f"customer.{str(server.pk)[:8]}" in html


def test_the_sftp_address_is_the_public_host_when_one_is_set(signed_in, customer, make_server, settings):
    server = make_server(customer)
    settings.SFTP_PUBLIC_HOST = "sftp.example.com"
    assert (
        page_data(signed_in(customer).get(f"/servers/{server.pk}"))["files"]["sftp"]["host"]
        == "sftp.example.com"
    )
    settings.SFTP_PUBLIC_HOST = "sftp.example.com:22"
    sftp = page_data(signed_in(customer).get(f"/servers/{server.pk}"))["files"]["sftp"]
    assert (sftp["host"], sftp["port"]) == ("sftp.example.com", 22)


def test_a_member_without_file_write_gets_no_write_controls(
    signed_in, customer, stranger, make_server, share
):
    server = make_server(stranger)
    share(server, customer, ["file.read", "file.delete"])
    response = signed_in(customer).get(f"/servers/{server.pk}")
    html = response.content.decode()
    assert files_tab(response) and 'id="files-read-only"' in html
    for control in (
        "files-upload-input",
        "files-new-file",
        "files-new-folder",
        "files-archive",
        "editor-save",
    ):
        assert f'id="{control}"' not in html, control
    assert 'id="files-delete-selected"' in html  # file.delete alone may delete
    assert page_data(response)["files"]["may"] == {"read": True, "write": False, "delete": True}


def test_a_member_without_file_read_gets_no_files_tab(signed_in, customer, stranger, make_server, share):
    server = make_server(stranger)
    share(server, customer, ["server.read", "server.console"])
    response = signed_in(customer).get(f"/servers/{server.pk}")
    assert not files_tab(response)
    assert "codemirror" not in response.content.decode()
    assert page_data(response)["files"] == {}
