"""The access log's sink: a file, or stderr even where stderr has no file descriptor (a notebook)."""

from __future__ import annotations

from kerascnn.serving.access_log import AccessLogWriter


def test_a_file_gets_one_line_per_request_on_flush(tmp_path):
    writer = AccessLogWriter(str(tmp_path / "access.log"))
    writer.write("127.0.0.1", "POST /v1/models/lenet:predict HTTP/1.1", 200, 215, 0.001234)
    writer.close()
    writer.flush()  # the server's flush timer may fire once more after the close: harmless
    line = (tmp_path / "access.log").read_text()
    assert line.endswith(' 127.0.0.1 "POST /v1/models/lenet:predict HTTP/1.1" 200 215 0.001234\n')
    assert line.count("\n") == 1


def test_stderr_without_a_file_descriptor_still_gets_the_log(capsys):
    # capsys's stderr, like ipykernel's, has no fileno(): the log goes to sys.stderr itself
    writer = AccessLogWriter("-")
    writer.write("::1", "GET /v1/models/lenet HTTP/1.1", 404, 60, 0.0001)
    writer.close()
    writer.close()  # closing twice (shutdown after an error) is harmless, and stderr stays open
    assert '::1 "GET /v1/models/lenet HTTP/1.1" 404 60 0.000100' in capsys.readouterr().err
