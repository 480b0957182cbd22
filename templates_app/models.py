import uuid

from django.core.exceptions import ValidationError
from django.db import models

from config import limits
from templates_app import egg_metadata, validators


class Template(models.Model):
    """How a kind of game server is installed, configured, started and stopped (a Pterodactyl egg)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(
        max_length=100, unique=True, error_messages={"unique": "A template with this name already exists."}
    )
    description = models.TextField(blank=True, max_length=limits.DESCRIPTION_CHARS)
    docker_image = models.CharField(max_length=255, help_text="The default image.")
    docker_images = models.JSONField(
        default=dict, blank=True, help_text='Images a server may choose instead: {"Java 21": "ghcr.io/…"}.'
    )

    class PullPolicy(models.TextChoices):
        MISSING = "missing", "Pull when missing from the node"
        ALWAYS = "always", "Pull at every install"

    pull_policy = models.CharField(
        max_length=16,
        choices=PullPolicy.choices,
        default=PullPolicy.MISSING,
        help_text="When installs pull the image: only when the node lacks it (missing), or every time "
        "(always: for tags that move, such as :latest; the node's copy is used if the registry fails).",
    )
    start_command = models.TextField(
        max_length=limits.COMMAND_CHARS,
        help_text="Run by bash (sh when the image has no bash) in the data path; {{VAR}} values stay data.",
    )
    use_image_entrypoint = models.BooleanField(
        default=False,
        help_text="Run the image's own entrypoint, which runs the start command from $STARTUP (Pterodactyl's "
        "yolks do); off: the start command replaces the image's command.",
    )
    stop_command = models.CharField(
        max_length=200, blank=True, help_text="A console command such as `stop` (or use a stop signal)."
    )
    stop_signal = models.CharField(
        max_length=16, blank=True, help_text="SIGINT, SIGTERM… (or a stop command)."
    )
    ports = models.JSONField(default=list, blank=True, help_text='[{"internal": 25565, "protocol": "tcp"}]')
    environment = models.JSONField(
        default=dict, blank=True, help_text="Extra container variables; {{VAR}} allowed."
    )
    required_variables = models.JSONField(default=list, blank=True)
    config_files = models.JSONField(
        default=list,
        blank=True,
        help_text='Rewritten before each start: [{"path", "parser", "replace": {"key": "{{VAR}}"}}].',
    )
    ready_pattern = models.CharField(max_length=500, blank=True, help_text="Console output meaning 'ready'.")
    ready_pattern_is_regex = models.BooleanField(default=False)
    data_path = models.CharField(max_length=255, default="/home/container")
    # Console commands around a backup of a running server (e.g. `save-off` + `save-all`, then `save-on`),
    # one per line, and the line that says the save is done (waited for before the archive is made).
    backup_before_commands = models.TextField(blank=True, max_length=limits.COMMAND_CHARS)
    backup_done_pattern = models.CharField(
        max_length=500, blank=True, help_text="Console output meaning the save before a backup is done."
    )
    backup_done_pattern_is_regex = models.BooleanField(default=False)  # as ready_pattern_is_regex
    backup_after_commands = models.TextField(blank=True, max_length=limits.COMMAND_CHARS)
    install_image = models.CharField(max_length=255, blank=True)
    install_entrypoint = models.CharField(max_length=100, default="bash")
    install_script = models.TextField(
        blank=True, max_length=limits.SCRIPT_CHARS, help_text="Runs with the server's files at /mnt/server."
    )
    # Egg metadata kept as the egg wrote it: features ("eula", "java_version", "pid_limit"…) the panel
    # acts on, tags, and the files customers may not open (gitignore patterns, as Wings reads them).
    features = models.JSONField(default=list, blank=True)
    tags = models.JSONField(default=list, blank=True)
    file_denylist = models.JSONField(default=list, blank=True)
    # What an imported egg wrote for fields Hearth normalises (`config.stop`, `config.startup.done`…),
    # exported again as long as the template's own fields still mean the same.
    egg_as_written = models.JSONField(default=dict, blank=True, editable=False)
    read_only_root = models.BooleanField(
        default=False, help_text="The container's root filesystem may be read-only."
    )
    source = models.CharField(
        max_length=50, default="manual", help_text='How it was made: "manual", "egg:PTDL_v2"…'
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(stop_command="") & ~models.Q(stop_signal=""))
                | (~models.Q(stop_command="") & models.Q(stop_signal="")),
                name="template_one_stop_method",
                violation_error_message="Give either a stop command or a stop signal, not both.",
            )
        ]

    def __str__(self):
        return self.name

    def clean(self):
        errors: dict[str, list] = {}

        def check(field, validator, *args):
            try:
                validator(*args)
            except ValidationError as exc:
                errors.setdefault(field, []).extend(exc.messages)

        check("docker_image", validators.validate_image, self.docker_image)
        check("docker_images", validators.validate_docker_images, self.docker_images)
        check("ports", validators.validate_ports, self.ports)
        check("environment", validators.validate_environment, self.environment)
        check("required_variables", validators.validate_required_variables, self.required_variables)
        check("config_files", validators.validate_config_files, self.config_files)
        check("file_denylist", validators.validate_file_denylist, self.file_denylist)
        check("stop_signal", validators.validate_signal, self.stop_signal)
        check("data_path", validators.validate_data_path, self.data_path)
        check("install_image", validators.validate_image, self.install_image)
        check("install_entrypoint", validators.validate_entrypoint, self.install_entrypoint)
        check("features", egg_metadata.validate_features, self.features)
        check("tags", egg_metadata.validate_tags, self.tags)
        check("file_denylist", egg_metadata.validate_file_denylist, self.file_denylist)
        check(
            "ready_pattern",
            validators.validate_ready_pattern,
            self.ready_pattern,
            self.ready_pattern_is_regex,
        )
        check(
            "backup_done_pattern",
            validators.validate_backup_done_pattern,
            self.backup_done_pattern,
            self.backup_done_pattern_is_regex,
        )
        if "\x00" in (self.start_command or ""):
            errors.setdefault("start_command", []).append("The start command cannot contain NUL characters.")
        if bool(self.stop_command) == bool(self.stop_signal):
            errors.setdefault("stop_command", []).append(
                "Give either a stop command or a stop signal, not both."
                if self.stop_command
                else "Give a stop command (such as `stop`) or a stop signal (such as SIGINT)."
            )
        if self.install_script and not self.install_image:
            errors.setdefault("install_image", []).append("An install script needs an install image.")
        if self.name and (
            Template.objects.filter(name__iexact=self.name)
            .exclude(pk=self.pk)
            .exclude(name=self.name)
            .exists()
        ):
            errors.setdefault("name", []).append("A template with this name already exists.")
        if errors:
            raise ValidationError(errors)

    def images(self) -> list[str]:
        """Every image a server may run: the default first, then the selectable ones."""
        return list(dict.fromkeys([self.docker_image, *self.docker_images.values()]))

    def config_file_paths(self) -> list[str]:
        return [rule["path"] for rule in self.config_files or [] if isinstance(rule, dict) and "path" in rule]


class TemplateVariable(models.Model):
    """A value a server sets for its template, with the rules it must follow."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    template = models.ForeignKey(Template, on_delete=models.CASCADE, related_name="variables")
    env_variable = models.CharField(max_length=191, validators=[validators.validate_env_name])
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True, max_length=limits.DESCRIPTION_CHARS)
    default_value = models.TextField(blank=True, max_length=limits.VALUE_CHARS)
    user_viewable = models.BooleanField(default=True)
    user_editable = models.BooleanField(default=True)
    rules = models.JSONField(
        default=validators.empty_rules,
        blank=True,
        help_text='{"required", "type": string|integer|number|boolean, "regex", "min", "max", '
        '"min_length", "max_length", "choices"}',
    )
    sort_order = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["sort_order", "env_variable"]
        constraints = [
            models.UniqueConstraint(fields=["template", "env_variable"], name="template_variable_unique_env")
        ]

    def __str__(self):
        return self.env_variable

    def clean(self):
        try:
            self.rules = validators.normalize_rules(self.rules)
        except ValidationError as exc:
            raise ValidationError({"rules": exc.messages}) from exc
        if "\x00" in (self.default_value or ""):
            raise ValidationError({"default_value": "The default value cannot contain NUL characters."})
