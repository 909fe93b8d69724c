# The part of util-linux's python3-libmount (pylibmount) that crun's
# tests/test_mounts.py uses: Table(mountinfo_path).find_target(path) and the
# fs's vfs_options / fs_options. Debian bookworm does not package the bindings
# (python3-libmount appears in trixie, built against trixie's libmount1), so
# run.sh puts this directory on PYTHONPATH only when `import libmount` fails.
"""Minimal stand-in for util-linux's libmount Python bindings (mountinfo only)."""


def _unescape(s):
    # mountinfo escapes space, tab, newline and backslash as \ooo
    out, i = [], 0
    while i < len(s):
        if s[i] == "\\" and s[i + 1:i + 4].isdigit() and len(s[i + 1:i + 4]) == 3:
            out.append(chr(int(s[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


class Fs:
    def __init__(self, line):
        fields = line.split()
        sep = fields.index("-")
        self.id = int(fields[0])
        self.parent = int(fields[1])
        self.root = _unescape(fields[3])
        self.target = _unescape(fields[4])
        self.vfs_options = fields[5]
        self.fstype = fields[sep + 1]
        self.source = _unescape(fields[sep + 2])
        self.fs_options = fields[sep + 3] if len(fields) > sep + 3 else ""
        self.options = self.vfs_options + "," + self.fs_options


class Table:
    def __init__(self, path=None):
        self._fs = []
        if path is not None:
            with open(path) as f:
                for line in f:
                    line = line.strip()
                    if line and " - " in line:
                        self._fs.append(Fs(line))

    def find_target(self, path, direction=None):
        # libmount searches backwards by default: the last mount on a target wins.
        for fs in reversed(self._fs):
            if fs.target == path:
                return fs
        return None
