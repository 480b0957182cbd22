"""Images on a node: is one there, pull one."""

import docker.errors

from nodes.client.errors import ImagePullFailed


class Images:
    """The image half of NodeClient (mixed into it; `self.guard` and `self._api` come from ClientBase)."""

    def has_image(self, image: str) -> bool:
        """Is `image` (name:tag or id) on the node already?"""
        with self.guard("looking for an image"):
            try:
                self._api.inspect_image(image)
            except docker.errors.ImageNotFound:
                return False
        return True

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
