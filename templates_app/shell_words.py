"""What a shell word means to the startup-command analysis (templates_app.startup): which programs
re-read their arguments as code, with which flags, and the levels a customer's value can land at."""

import re
from dataclasses import dataclass

DATA, PLAIN, NUMBER, CODE = 0, 1, 2, 3
# A NUMBER place (bash arithmetic) accepts an integer only; empty counts as 0 there.
NUMBER_VALUE_RE = re.compile(r"^([-+]?[0-9]+)?$")
# The panel's own names in the container: the start command (HEARTH_STARTUP) and the words of values
# that split (HEARTH_W_<NAME>_<n>). Never a template's or a customer's.
PANEL_PREFIX = "HEARTH_"
WORD_PREFIX = "HEARTH_W_"

# fmt: off
SHELLS = frozenset((
    "sh", "bash", "rbash", "dash", "ash", "zsh", "ksh", "mksh", "pdksh", "oksh", "hush", "yash", "posh",
    "fish", "csh", "tcsh",
))
# fmt: on
# Interpreters that run a file argument as a program and take code in a flag (python -c, perl -e…).
CODE_FLAGS = {
    "python": re.compile(r"^-[A-Za-z]*c"),
    "pypy": re.compile(r"^-[A-Za-z]*c"),
    "perl": re.compile(r"^-[A-Za-z]*[eE]"),
    "ruby": re.compile(r"^-[A-Za-z]*e"),
    "node": re.compile(r"^(-[A-Za-z]*[ep]|--eval|--print)"),
    "nodejs": re.compile(r"^(-[A-Za-z]*[ep]|--eval|--print)"),
    "bun": re.compile(r"^(-[A-Za-z]*e|--eval|--print)"),
    "deno": re.compile(r"^(eval|-[A-Za-z]*e)"),
    "php": re.compile(r"^-[A-Za-z]*[rRBEF]"),
    "lua": re.compile(r"^-[A-Za-z]*e"),
    "luajit": re.compile(r"^-[A-Za-z]*e"),
    "expect": re.compile(r"^-[A-Za-z]*c"),
    "tclsh": re.compile(r"^-encoding$"),
    "wish": re.compile(r"^-encoding$"),
}
SHELL_CODE_FLAG = re.compile(r"^[-+][A-Za-z]*c[A-Za-z]*$")
# fmt: off
# Builtins that read their arguments as code (or evaluate them as names) when they are the command.
BUILTIN_CODE = frozenset((
    "eval", "trap", "source", ".", "alias", "unalias", "bind", "complete", "compgen", "fc", "let", "read",
    "mapfile", "readarray", "unset", "getopts", "enable",
))
# Of those, the ones that evaluate only the names given as their arguments (stdin stays data).
NAME_BUILTINS = frozenset(("read", "mapfile", "readarray", "unset", "getopts"))
# Programs that read what follows them as code, or hand it to a shell, wherever they stand.
ALWAYS_CODE = frozenset((
    "awk", "gawk", "mawk", "nawk", "sed", "gsed", "make", "gmake", "ssh", "rsh", "slogin", "scp", "su",
    "sudo", "doas", "watch", "script", "flock", "screen", "tmux", "parallel", "at", "batch", "crontab",
    "xterm", "git", "tar", "rsync", "zip", "expect",
))
# fmt: on
# Of those, the filters whose input stream is data to the script they are given.
STREAM_FILTERS = frozenset(("sed", "gsed", "awk", "gawk", "mawk", "nawk"))
# Programs that write what they read to a file a later command could run.
WRITERS = frozenset(("tee", "dd", "cp", "mv", "install", "sponge", "split", "csplit", "ln", "cpio", "patch"))
# They set a name from each argument: `declare 'a[$(id)]'` runs `id` in bash; `NAME=value` is data.
DECLARES = frozenset(("declare", "typeset", "local", "export", "readonly"))
# `[ -v "$X" ]` and `printf -v "$X"` evaluate an array subscript in X.
NAME_AFTER_FLAG = {"[": ("-v", "-R"), "test": ("-v", "-R"), "printf": ("-v",)}
# Runners: run their remaining words as a command. (options that take a value, positionals before it)
RUNNERS = {
    "exec": ({"-a"}, 0),
    "command": (set(), 0),
    "builtin": (set(), 0),
    "nohup": (set(), 0),
    "setsid": (set(), 0),
    "time": ({"-f", "-o"}, 0),
    "nice": ({"-n"}, 0),
    "ionice": ({"-c", "-n", "-p"}, 0),
    "chrt": (set(), 1),
    "taskset": (set(), 1),
    "timeout": ({"-s", "-k", "--signal", "--kill-after"}, 1),
    "stdbuf": ({"-i", "-o", "-e"}, 0),
    "chroot": (set(), 1),
    "gosu": (set(), 1),
    "su-exec": (set(), 1),
    "s6-setuidgid": (set(), 1),
    "chpst": ({"-u", "-U", "-e", "-n", "-l", "-L", "-m", "-d", "-o", "-p", "-f", "-c", "-r", "-t"}, 0),
    "setpriv": (set(), 0),
    "unshare": (set(), 0),
    "nsenter": ({"-t", "-S", "-G"}, 0),
    "runuser": ({"-u", "-g", "-G"}, 0),
    "tini": (set(), 0),
    "dumb-init": (set(), 0),
    "catatonit": (set(), 0),
    "strace": ({"-e", "-o", "-p", "-s", "-u"}, 0),
    "ltrace": ({"-e", "-o", "-p", "-s", "-u"}, 0),
    "unbuffer": (set(), 0),
    "xargs": ({"-a", "-d", "-E", "-I", "-L", "-n", "-P", "-s"}, 0),
    "busybox": (set(), 0),
    "toybox": (set(), 0),
    "env": ({"-u", "-C", "--unset", "--chdir"}, 0),
}
FIND_EXEC = frozenset(("-exec", "-execdir", "-ok", "-okdir"))
INPUT_REDIRECTS = frozenset(("<", "<<", "<<-", "<<<", "<&", "<>"))
OUTPUT_REDIRECTS = frozenset((">", ">>", ">|", "&>", "&>>", "<>", ">&"))
ASSIGNMENT_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(\[[^\]]*\])?\+?=")
REFERENCE_RE = re.compile(r"\$\{?!?([A-Za-z_][A-Za-z0-9_]*)")
POSITIONAL_RE = re.compile(r"\$\{?!?([0-9@*])")  # a function's or `set --`'s arguments
TOKEN_RE = re.compile(r"[^\s;&|()<>'\"`$=]+")
VERSION_SUFFIX = re.compile(r"[0-9.]+$")

# Names a program or a shell reads as code or as where to load code from: never the customer's.
# fmt: off
CODE_ENV_NAMES = frozenset((
    "BASH_ENV", "ENV", "SHELLOPTS", "BASHOPTS", "PS4", "PROMPT_COMMAND", "IFS", "PATH", "CDPATH",
    "GLOBIGNORE", "BASH_XTRACEFD", "PYTHONSTARTUP", "PYTHONPATH", "PYTHONHOME", "PYTHONINSPECT",
    "PERL5OPT", "PERL5LIB", "PERLLIB", "RUBYOPT", "RUBYLIB", "NODE_OPTIONS", "NODE_PATH",
    "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS", "LUA_INIT", "LUA_PATH", "LUA_CPATH",
    "GIT_SSH_COMMAND", "GIT_SSH", "GIT_ASKPASS", "SSH_ASKPASS", "GIT_PROXY_COMMAND", "GIT_EXEC_PATH",
    "GIT_EDITOR", "GIT_TEMPLATE_DIR", "GIT_EXTERNAL_DIFF", "GIT_PAGER",
))
# fmt: on
# GIT_CONFIG_COUNT/KEY_n/VALUE_n, GIT_CONFIG_PARAMETERS set any git option (core.sshCommand, core.pager).
CODE_ENV_PREFIXES = ("LD_", "BASH_FUNC_", "DYLD_", "GCONV_", "GIT_CONFIG")
# npm reads npm_config_<option> (script-shell, node-options, onload-script…) whatever its case.
CASELESS_CODE_ENV_PREFIXES = ("npm_config_",)


def is_code_env_name(name: str) -> bool:
    return (
        name in CODE_ENV_NAMES
        or name.startswith(CODE_ENV_PREFIXES)
        or name.lower().startswith(CASELESS_CODE_ENV_PREFIXES)
    )


@dataclass(frozen=True)
class Finding:
    name: str
    level: int
    reason: str


class StartupProblem(ValueError):
    """The template places a customer's value where a nested interpreter would read it as code."""

    def __init__(self, problems: list[str]):
        super().__init__(" ".join(problems))
        self.problems = problems
