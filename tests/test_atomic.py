"""Atomic writes leave files readable as any other file the user writes."""

import os
import stat

from neuroseq.atomic import write_json_atomic, write_text_atomic


def test_written_files_get_the_umask_not_the_temporary_files_private_mode(tmp_path):
    old = os.umask(0o022)
    try:
        path = write_json_atomic(tmp_path / "summary.json", {"a": 1})
        assert stat.S_IMODE(path.stat().st_mode) == 0o644  # was 0o600 (mkstemp's)
        os.umask(0o077)
        private = write_text_atomic(tmp_path / "private.md", "x")
        assert stat.S_IMODE(private.stat().st_mode) == 0o600
        path.chmod(0o664)  # a file replaced keeps the mode it had
        write_json_atomic(path, {"a": 2})
        assert stat.S_IMODE(path.stat().st_mode) == 0o664
        assert not list(tmp_path.glob(".*.tmp"))
    finally:
        os.umask(old)
