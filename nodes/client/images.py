"""Images on a node: is one there, pull one, which id it has, does it hold a file."""

import contextlib
import uuid

import docker.errors

from nodes.client.errors import ImagePullFailed
from nodes.client.sdk import archive_stat


class Images:
    """The image half of NodeClient (mixed into it; `self.guard` and `self._api` come from ClientBase)."""

    def has_image(self, image: str) -> bool:
        """Is `image` (name:tag or id) on the node already?"""
        return self.image_id(image) is not None

    def image_id(self, image: str) -> str | None:
        """The engine's id of `image` (sha256:…), what a cache about the image's content is keyed by;
        None when the node does not have it."""
        with self.guard("looking for an image"):
            try:
                return self._api.inspect_image(image)["Id"]
            except docker.errors.ImageNotFound:
                return None

    def image_has_file(self, image: str, path: str) -> bool:
        """Does `image` hold `path` (e.g. /bin/bash)? Asked of a container that is created from it and
        never started (no entrypoint, no network), then removed: nothing of the image runs."""
        name = f"hearth-probe-{uuid.uuid4().hex[:12]}"
        with self.guard("looking into an image"):
            container = self._api.create_container(
                image=image,
                name=name,
                entrypoint=["/hearth-never-runs"],
                command=[],
                network_disabled=True,
                labels={"hearth.probe": "1"},
                host_config=self._api.create_host_config(network_mode="none"),
            )["Id"]
        try:
            with self.guard("looking into an image"):
                return archive_stat(self._api, container, path) is not None
        finally:
            with contextlib.suppress(Exception):
                self._api.remove_container(container, force=True, v=True)  # VOLUME: anonymous volumes too

    def pull_image(self, image: str):
        """Pull `image` from its registry, yielding the engine's progress events (dicts); a registry's
        refusal or absence raises ImagePullFailed with the engine's reason."""
        repository, tag = _split_image(image)
        with self.guard(f"pulling {image}"):
            try:
                for event in self._api.pull(repository, tag=tag, stream=True, decode=True):
                    if "error" in event:
                        raise ImagePullFailed(image, event["error"])
                    yield event
            except docker.errors.APIError as exc:  # the engine answered, but the registry did not
                raise ImagePullFailed(image, exc.explanation or str(exc)) from exc


def _split_image(image: str) -> tuple[str, str]:
    """'host:5000/name:tag' → ('host:5000/name', 'tag'); no tag means 'latest' (a digest stays whole)."""
    if "@" in image:
        repository, digest = image.split("@", 1)
        return repository, digest
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        repository, tag = image.rsplit(":", 1)
        return repository, tag
    return image, "latest"
