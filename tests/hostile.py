"""Values that try to become shell code: each must come out of a quoting or a template as itself."""

SHELL_HOSTILE = [
    "$(touch pwned)",
    "`touch pwned`",
    "a\ntouch pwned",
    "a\r\ntouch pwned #",
    "it's",
    "'; touch pwned; '",
    '"; touch pwned; "',
    "trailing\\",
    "\\'; touch pwned #",
    "$HOME ${PATH} $((1+1))",
    "| touch pwned",
    "&& touch pwned &",
    "> pwned",
    "*",
    "~root",
    "-rf",
    "",
    "  spaced  out  ",
    "\u00e9\u00e8 \u2603 emoji \U0001f525",
]
