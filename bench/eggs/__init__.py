"""bench/eggs: how much of a corpus of Pterodactyl/Pelican eggs Hearth imports, saves, exports back
unchanged, and exports so that Pterodactyl's and Pelican's importers accept it.

    .venv/bin/python -m bench.eggs /work/.mirror/parkervcp+eggs/repo     # a bare git dir or a directory
    .venv/bin/python -m bench.eggs <dir> --no-results                   # print only

Pure: no database and no container (bench/eggs/measure.py), so it needs no test environment.
"""
