"""Lengths of free text, shared by models (admin forms) and API serializers, so both refuse alike."""

DESCRIPTION_CHARS = 2000
COMMAND_CHARS = 8192  # a template's start command
SCRIPT_CHARS = 256 * 1024  # an install script: the longest eggs are tens of kilobytes
VALUE_CHARS = 4096  # a variable's default value
SECRET_CHARS = 32 * 1024  # an SSH private key or host key in text
PASSWORD_CHARS = 1024
TOKEN_CHARS = 4096  # a JWT
LIST_ITEMS = 200  # permissions, address ranges
